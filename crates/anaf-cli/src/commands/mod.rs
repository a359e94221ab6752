//! One module per group of commands.

pub mod auth;
pub mod cif;
pub mod demo;
pub mod efactura;
pub mod etransport;
pub mod quota;
pub mod sync;
