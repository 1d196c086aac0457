//! The QEMU driver (work in progress).
