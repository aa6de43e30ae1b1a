//! Integration tests: the real application on port 0, a fresh database per test (SQLite or the
//! local PostgreSQL), and a fake OpenAI server on 127.0.0.1.

mod helpers;

mod abuse;
mod adaptation;
mod analytics;
mod cascade;
mod cli;
mod conformance;
mod crash;
mod egress;
mod email;
mod faults;
mod hostile;
mod language;
mod limits;
mod listen;
mod members;
mod plans;
mod portal;
mod provider_check;
mod proxy;
mod quality;
mod routing;
mod savings;
mod storage;
