//! The simulated driver (work in progress).
