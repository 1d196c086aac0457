//! The all-in-one cloud: configuration, first-start set-up (passwords.yml, Fernet keys,
//! bootstrap, admin-openrc.sh, clouds.yaml) and starting every service in one process.
//! The `rustack` binary and `rustack-test-utils` both start clouds through [`cloud`].

pub mod bootstrap_demo;
pub mod bootstrap_images;
pub mod cloud;
pub mod compute;
pub mod config;
pub mod dataplane;
pub mod files;
