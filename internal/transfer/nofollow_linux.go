package transfer

import "syscall"

const noFollow = syscall.O_NOFOLLOW
