package agent

import "banger/internal/agent/agentproto"

// BinaryPath is where the image builder installs banger-vsock-agent.
const BinaryPath = agentproto.BinaryPath

// UnitName is the systemd unit the image builder installs and enables.
const UnitName = "banger-vsock-agent.service"

// Unit is the systemd unit text for UnitName. The agent needs no flags: it
// finds vsock and the serial port itself and keeps retrying until one is
// there, so the unit needs no device ordering and no network.
const Unit = `[Unit]
Description=banger guest agent (health, ports, stats, shutdown over vsock)
After=local-fs.target

[Service]
Type=simple
ExecStart=` + BinaryPath + `
Restart=always
RestartSec=1

[Install]
WantedBy=multi-user.target
`
