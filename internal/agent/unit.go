package agent

import "banger/internal/agent/agentproto"

// BinaryPath is where the bundle build and the image build install
// banger-vsock-agent in the guest.
const BinaryPath = agentproto.BinaryPath

// UnitName is the systemd unit those builds install and enable.
const UnitName = "banger-vsock-agent.service"

// Unit is the systemd unit text for UnitName, installed by the bundle build
// and the image build. The agent needs no flags: it finds vsock and the
// serial port itself (in /sys when udev has not made the link yet) and
// keeps retrying until one is there, so the unit needs no device ordering,
// no network and no default dependencies: like the images' sshd it starts
// as soon as systemd does, with ten times the default CPU weight while the
// VM boots. It restarts the agent forever (no start limit), since the
// agent's transport may appear after the service starts.
const Unit = `[Unit]
Description=banger guest agent (health, ports, stats, shutdown over vsock)
DefaultDependencies=no
Before=shutdown.target
Conflicts=shutdown.target
StartLimitIntervalSec=0

[Service]
Type=simple
ExecStart=` + BinaryPath + `
Restart=always
RestartSec=1
StartupCPUWeight=1000

[Install]
WantedBy=multi-user.target
`
