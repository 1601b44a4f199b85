package build

const (
	mib = int64(1) << 20
	// WorkSeedSize is the work seed's apparent size; VMs grow their copy
	// with resize2fs to --disk-size.
	WorkSeedSize = 256 * mib
)
