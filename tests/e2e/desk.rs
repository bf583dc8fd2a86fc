//! The desk's journeys end to end: company access and requests, through the
//! real components on the host, with several people and captured mail.

mod approvals;
mod attachments;
mod console;
mod console_perf;
mod crash;
mod desk_perf;
mod limits;
mod requests;
