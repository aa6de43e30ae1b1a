//! Everything a request handler needs, shared by the proxy and the portal: built once by
//! [`GatewayBuilder`]. Changes to accounts made by this process go through its operations
//! ([`accounts`]), which evict what the directory keeps in memory, so they bite at once.

mod accounts;
mod gateway;

pub use gateway::{
    BackgroundTasks, GatewayBuilder, GatewayState, SharedState, StartError, Upstreams,
};
