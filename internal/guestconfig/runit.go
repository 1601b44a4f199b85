package guestconfig

import "banger/internal/agent/agentproto"

// runit's layout, shared by Debian's runit-init and Void: service
// directories live in /etc/sv, and runsvdir supervises
// /etc/runit/runsvdir/current, a link to the "default" directory that
// /etc/service (Debian) and /var/service (Void) point at. A service is
// enabled by linking its directory into the default runsvdir.
const (
	RunitServiceDir = "/etc/sv"
	RunitEnableDir  = "/etc/runit/runsvdir/default"
)

// Names of the runit services banger renders. The sshd service is "ssh",
// Debian's name: Debian's runit runs an /etc/init.d script at boot only
// when no /etc/sv directory has its name, so this one replaces the SysV
// sshd instead of racing it for port 22. An image must not enable another
// sshd service of its own (Void's is "sshd").
const (
	RunitAgentService = "banger-vsock-agent"
	RunitSSHService   = "ssh"
)

// RunitServiceNames are the services RunitServices defines and enables.
var RunitServiceNames = []string{RunitAgentService, RunitSSHService}

// runitAgentRun runs the agent in the foreground; runsv starts it again a
// second after it exits, forever, as the systemd unit's Restart=always
// does. Its log goes to runsvdir's output, the console.
const runitAgentRun = "#!/bin/sh\n" + header +
	"# runsv restarts the agent whenever it exits.\n" +
	"exec 2>&1\n" +
	"exec " + agentproto.BinaryPath + "\n"

// runitSSHRun runs sshd in the foreground (-D) with its log on stderr
// (-e). Its configuration is the image's sshd_config, which must read
// /etc/ssh/sshd_config.d/*.conf first (Debian's does), so banger's drop-in
// sets the host key and authorized keys as on systemd. /run/sshd is the
// privilege separation directory Debian's sshd requires, which systemd's
// unit would create.
const runitSSHRun = "#!/bin/sh\n" + header +
	"exec 2>&1\n" +
	"mkdir -p /run/sshd && chmod 0755 /run/sshd\n" +
	"exec /usr/sbin/sshd -D -e\n"

// RunitServices returns banger's runit service directories (the guest
// agent and sshd) and the links that enable them, parents before children.
// Render includes them for a runit guest; an image builder may bake the
// same entries into a runit rootfs.
func RunitServices() []File {
	files := []File{
		{Path: "/etc", Mode: 0o755, Dir: true},
		{Path: RunitServiceDir, Mode: 0o755, Dir: true},
	}
	runs := map[string]string{RunitAgentService: runitAgentRun, RunitSSHService: runitSSHRun}
	for _, name := range RunitServiceNames {
		dir := RunitServiceDir + "/" + name
		files = append(files,
			File{Path: dir, Mode: 0o755, Dir: true},
			regular(dir+"/run", 0o755, runs[name]))
	}
	files = append(files,
		File{Path: "/etc/runit", Mode: 0o755, Dir: true},
		File{Path: "/etc/runit/runsvdir", Mode: 0o755, Dir: true},
		File{Path: RunitEnableDir, Mode: 0o755, Dir: true})
	for _, name := range RunitServiceNames {
		files = append(files, File{Path: RunitEnableDir + "/" + name, Symlink: RunitServiceDir + "/" + name})
	}
	return files
}
