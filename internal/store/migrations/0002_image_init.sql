-- The init system of an image's rootfs (guestconfig.Init: systemd, runit),
-- detected when the image is registered. '' on images recorded before this
-- column existed: the daemon detects it again the next time it needs it.
ALTER TABLE images ADD COLUMN init TEXT NOT NULL DEFAULT '';
