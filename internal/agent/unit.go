package agent

import "banger/internal/agent/agentproto"

// BinaryPath is where the bundle build and the image build install
// banger-vsock-agent in the guest.
const BinaryPath = agentproto.BinaryPath

// UnitName is the systemd unit those builds install and enable.
const UnitName = "banger-vsock-agent.service"

// Unit is the systemd unit text for UnitName, installed by the bundle build
// and the image build. The agent needs no flags: it finds vsock and the
// serial port itself and keeps retrying until one is there, so the unit
// needs no device ordering and no network. It restarts the agent forever
// (no start limit), since the agent's transport may appear after the
// service starts.
const Unit = `[Unit]
Description=banger guest agent (health, ports, stats, shutdown over vsock)
After=local-fs.target
StartLimitIntervalSec=0

[Service]
Type=simple
ExecStart=` + BinaryPath + `
Restart=always
RestartSec=1

[Install]
WantedBy=multi-user.target
`
