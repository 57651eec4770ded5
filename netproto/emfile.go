package netproto

import "syscall"

const syscallEMFILE = syscall.EMFILE
