//! Helpers shared by the integration tests, one file per part of the project.
#![allow(dead_code)]

pub mod proxy;
