CREATE TABLE images (
	id          TEXT PRIMARY KEY,
	name        TEXT NOT NULL UNIQUE,
	managed     INTEGER NOT NULL DEFAULT 0,
	rootfs      TEXT NOT NULL,
	work_seed   TEXT NOT NULL DEFAULT '',
	kernel      TEXT NOT NULL DEFAULT '',
	initrd      TEXT NOT NULL DEFAULT '',
	modules_dir TEXT NOT NULL DEFAULT '',
	packages    TEXT NOT NULL DEFAULT '',
	created_at  TEXT NOT NULL,
	updated_at  TEXT NOT NULL
);

CREATE TABLE vms (
	id          TEXT PRIMARY KEY,
	name        TEXT NOT NULL UNIQUE,
	state       TEXT NOT NULL,
	image_id    TEXT NOT NULL,
	image_name  TEXT NOT NULL,
	vcpus       INTEGER NOT NULL,
	memory_mib  INTEGER NOT NULL,
	disk_size   INTEGER NOT NULL,
	nat         INTEGER NOT NULL DEFAULT 0,
	ip          TEXT NOT NULL UNIQUE,
	mac         TEXT NOT NULL,
	tap         TEXT NOT NULL DEFAULT '',
	vmm         TEXT NOT NULL,
	accel       TEXT NOT NULL DEFAULT '',
	pid         INTEGER NOT NULL DEFAULT 0,
	pid_start   INTEGER NOT NULL DEFAULT 0,
	kernel      TEXT NOT NULL,
	initrd      TEXT NOT NULL,
	rootfs      TEXT NOT NULL,
	created_at  TEXT NOT NULL,
	started_at  TEXT NOT NULL DEFAULT '',
	last_error  TEXT NOT NULL DEFAULT ''
);
