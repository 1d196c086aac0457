//! Servers: request validation, the instance state machine and the server body per
//! microversion.

pub mod request;
pub mod state;
pub mod view;

pub use request::{
    Invalid, Networks, Rebuild, RequestedNetwork, ServerAction, ServerCreate, ServerUpdate,
};
pub use state::{Action, TaskState, VmState};
pub use view::{BodyKind, RenderOptions, ServerView};
