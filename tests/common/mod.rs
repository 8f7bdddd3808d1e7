//! Helpers shared by the integration tests; one submodule per part of the project.
#![allow(dead_code)]

pub mod bin;
pub mod certs;
pub mod checklab;
pub mod control;
pub mod control_lab;
pub mod http1;
pub mod lab;
pub mod proxy;
pub mod reliab;
pub mod squid;
pub mod tshark;
pub mod waves;
