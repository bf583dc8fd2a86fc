//! One delivery run: claim due messages one by one and send each, retrying a
//! transient failure a few times inside this request before it falls back to
//! the outbox's backoff.
//!
//! Why inside the request: real Spin has no timer, so the cheapest retry is the
//! one made while the instance still runs. A relay that drops one message (a
//! 503 during a deploy, a reset connection) gets it again half a second later,
//! and the person waiting for a sign-in code never notices. Longer outages go
//! back to the outbox with backoff and are picked up by the due-check.
//!
//! Exactly once: each message is claimed with a lease (`outbox::claim_next`)
//! that outlasts everything this run can spend on it ([`WORST_CASE_MS`] is
//! tested to stay under `outbox::LEASE_S`), so no other run can claim it while
//! a try may still reach the relay.

use std::time::Duration;

use edgedesk_core::ApiError;
use edgedesk_web::Ctx;

use crate::outbox;
use crate::transport::{self, Failure, Settings};

/// Most messages one run sends, so a run stays short; the rest wait for the next.
const BATCH: usize = 25;

/// Waits before the second and third try of one message within a run.
pub const INLINE_WAITS_MS: [u64; 2] = [500, 2_000];

/// Longest one try may take (connect, send, first answer): a relay that
/// swallows packets must not hold the run, nor outlive the lease.
pub const SEND_TIMEOUT_MS: u64 = 15_000;

/// Upper bound of the time one message can take in one run.
pub const WORST_CASE_MS: u64 =
    SEND_TIMEOUT_MS * (INLINE_WAITS_MS.len() as u64 + 1) + INLINE_WAITS_MS[0] + INLINE_WAITS_MS[1];

// Exactly once: no other run may claim a message while a try of ours can still
// reach the relay, so one run's tries must end before the lease does.
const _: () = assert!(WORST_CASE_MS < outbox::LEASE_S as u64 * 1000);

/// The wait before try `n + 1` after `n` failed tries (1-based), or `None`
/// when this run has tried enough and the outbox's backoff takes over.
/// Only transient failures are retried at once: a refusal or a configuration
/// error would fail the same way half a second later.
pub fn inline_wait(tries: usize, failure: &Failure) -> Option<Duration> {
    if !failure.is_transient() {
        return None;
    }
    INLINE_WAITS_MS
        .get(tries.checked_sub(1)?)
        .map(|ms| Duration::from_millis(*ms))
}

/// Messages the log transport claims and marks per statement, and most
/// rounds of that per run. Writing to the log cannot fail half-way, so a batch
/// is two writes however many messages it holds (an approval that tells 800
/// members used to mean 1,600 single-row writes competing with every other
/// writer for SQLite's one lock).
const LOG_BATCH: i64 = 200;
const LOG_ROUNDS: usize = 10;

/// Fan-out chunks (`core::outbox::FANOUT_CHUNK` members each) one run copies
/// into the outbox before delivering.
const FANOUT_CHUNKS: usize = 80;

/// Longest one delivery instance keeps going before it hands over to the
/// next kick (it stops after the message in hand).
const RUN_FOR_S: i64 = 30;

/// Wait between two passes of one run while it holds the lease. Kicks that
/// find the lease held skip starting a run (`web::router`), so mail queued
/// meanwhile waits for the next pass: while people raise requests at 16
/// connections, one pass then takes a batch of several messages instead of
/// a run (instance, lease claim and release, claim and mark) per message
/// (docs/PERFORMANCE.md, "Sixth pass"). A person waiting for a sign-in code
/// waits this much longer at most.
const PASS_GAP: Duration = Duration::from_millis(20);
const _: () = assert!(PASS_GAP.as_millis() < 100, "people wait for sign-in codes");

/// Delivers due mail; answers `{"delivered": n, "failed": m}`.
///
/// One run at a time: a run holds the `mail.runner` lease, and a kick that
/// finds it held returns at once. Without this, every request that queued
/// mail started its own run; with an organization's 800 mails queued, raising
/// requests at 16 connections kept a thousand delivery instances waiting on
/// each other (the host's instance limit). Nothing queued is left behind: the
/// run lets go of the lease and only then looks for due mail again, and a kick
/// looks for the lease only after its mail was committed, so either the run
/// sees the new mail or the kick finds the lease free.
pub async fn run(ctx: &Ctx) -> Result<serde_json::Value, ApiError> {
    let settings = Settings::from_ctx(ctx);
    let sql = ctx.sql()?;
    edgedesk_core::db::relax_sync(sql);
    let until = ctx.now() + RUN_FOR_S;
    let (mut delivered, mut failed, mut empty_holds) = (0, 0, 0);
    while outbox::claim_runner(sql, ctx.now())? {
        let passes = passes_while_held(ctx, &settings, until).await;
        // Let go even when a pass failed (a locked database): the next
        // kick or due-check takes over.
        outbox::release_runner(sql)?;
        let (d, f, done) = passes?;
        delivered += d;
        failed += f;
        // Mail read as due that a pass then did not find went to another
        // run in between; twice in a row ends this one, so it never spins.
        empty_holds = if d + f == 0 { empty_holds + 1 } else { 0 };
        // Otherwise always looked for after letting go, whatever the passes
        // found: mail committed by a kick that saw the lease held is due here.
        if done || empty_holds >= 2 || !outbox::any_due(sql, ctx.now())? {
            break;
        }
    }
    Ok(serde_json::json!({ "delivered": delivered, "failed": failed }))
}

/// What a run does after a pass, while it holds the lease.
#[derive(Debug, PartialEq, Eq)]
enum Next {
    /// Wait [`PASS_GAP`] and pass again: the last pass found mail, so more
    /// is likely on its way.
    Wait,
    /// Let go of the lease, then look once more for due mail.
    LetGo,
    /// Let go and end the run: the relay is failing for every message, or
    /// the run is out of time (the next kick or due-check takes over).
    End,
}

fn after_pass(found_mail: bool, relay_down: bool, out_of_time: bool) -> Next {
    if relay_down || out_of_time {
        Next::End
    } else if found_mail {
        Next::Wait
    } else {
        Next::LetGo
    }
}

/// Passes under one holding of the lease, [`PASS_GAP`] apart, until one
/// finds nothing. Returns (delivered, failed, the run should end).
async fn passes_while_held(
    ctx: &Ctx,
    settings: &Settings,
    until: i64,
) -> Result<(usize, usize, bool), ApiError> {
    let (mut delivered, mut failed) = (0, 0);
    loop {
        let (d, f, relay_down) = one_pass(ctx, settings).await?;
        delivered += d;
        failed += f;
        match after_pass(d + f > 0, relay_down, ctx.now() >= until) {
            Next::Wait => sleep(PASS_GAP).await,
            Next::LetGo => return Ok((delivered, failed, false)),
            Next::End => return Ok((delivered, failed, true)),
        }
    }
}

/// One pass: copy fan-outs into the outbox, then deliver a batch. Returns
/// (delivered, failed, the relay is failing for every message).
async fn one_pass(ctx: &Ctx, settings: &Settings) -> Result<(usize, usize, bool), ApiError> {
    let sql = ctx.sql()?;
    // Mail to whole organizations becomes outbox rows first, a chunk per
    // transaction. Busy with people's own writes: a later pass copies the rest.
    if let Err(e) = edgedesk_core::outbox::expand_fanouts(sql, ctx.clock(), FANOUT_CHUNKS) {
        eprintln!("mail fan-out: {e}");
    }
    if !outbox::any_due(sql, ctx.now())? {
        return Ok((0, 0, false));
    }
    if settings.is_log() {
        let mut delivered = 0;
        for _ in 0..LOG_ROUNDS {
            let batch = outbox::claim_batch(sql, ctx.now(), LOG_BATCH)?;
            if batch.is_empty() {
                break;
            }
            for mail in &batch {
                transport::write_to_log(settings, mail);
            }
            let ids: Vec<&str> = batch.iter().map(|m| m.id.as_str()).collect();
            outbox::mark_all_delivered(sql, &ids, ctx.now())?;
            delivered += batch.len();
            // A short batch took everything due: claiming again would be a
            // write for nothing (the run looks for due mail once more anyway).
            if (batch.len() as i64) < LOG_BATCH {
                break;
            }
        }
        return Ok((delivered, 0, false));
    }
    let retry_base = ctx
        .var_or("mail_retry_base_s", "30")
        .parse::<i64>()
        .unwrap_or(30)
        .clamp(1, 3600);
    let (mut delivered, mut failed) = (0, 0);
    for _ in 0..BATCH {
        let Some(mail) = outbox::claim_next(sql, ctx.now())? else {
            break;
        };
        let result = send_with_retries(settings, &mail).await;
        // The runner lease outlasts one message's tries; renew it for the next.
        outbox::renew_runner(sql, ctx.now())?;
        match result {
            Ok(()) => {
                outbox::mark_delivered(sql, &mail.id, ctx.now())?;
                delivered += 1;
            }
            Err(failure) => {
                outbox::mark_failed(sql, &mail, &failure.to_string(), ctx.now(), retry_base)?;
                failed += 1;
                // The relay itself is failing (or misconfigured): the other
                // messages would fail the same way; they stay due for the next run.
                if failure.is_relay_wide() {
                    return Ok((delivered, failed, true));
                }
            }
        }
    }
    Ok((delivered, failed, false))
}
async fn send_with_retries(settings: &Settings, mail: &outbox::Claimed) -> Result<(), Failure> {
    let mut tries = 0;
    loop {
        tries += 1;
        let failure = match timeout(
            transport::send(settings, mail),
            Duration::from_millis(SEND_TIMEOUT_MS),
        )
        .await
        {
            Some(Ok(())) => return Ok(()),
            Some(Err(f)) => f,
            None => Failure::TimedOut(SEND_TIMEOUT_MS / 1000),
        };
        match inline_wait(tries, &failure) {
            Some(wait) => sleep(wait).await,
            None => return Err(failure.after_tries(tries)),
        }
    }
}

/// `fut`, or `None` if it has not finished after `limit` (it is then dropped,
/// which cancels an outgoing request).
async fn timeout<F: std::future::Future>(fut: F, limit: Duration) -> Option<F::Output> {
    use futures::future::{Either, select};
    let fut = std::pin::pin!(fut);
    let timer = std::pin::pin!(sleep(limit));
    match select(fut, timer).await {
        Either::Left((out, _)) => Some(out),
        Either::Right(_) => None,
    }
}

/// An async sleep on wasi's monotonic clock, driven by the Spin SDK's executor
/// (which polls the registered pollables while the handler waits).
#[cfg(target_arch = "wasm32")]
async fn sleep(d: Duration) {
    use std::task::Poll;
    use wasi::clocks::monotonic_clock;
    let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
    let deadline = monotonic_clock::now().saturating_add(nanos);
    // Holds the registration of the current wake-up; replacing or dropping it
    // cancels the previous one, so the executor never polls a stale pollable.
    let mut _registered: Option<spin_executor::CancelOnDropToken> = None;
    std::future::poll_fn(move |cx| {
        if monotonic_clock::now() >= deadline {
            _registered = None;
            return Poll::Ready(());
        }
        let pollable = monotonic_clock::subscribe_instant(deadline);
        _registered =
            Some(spin_executor::push_waker_and_get_token(pollable, cx.waker().clone()).into());
        Poll::Pending
    })
    .await
}

/// Native builds only run unit tests, which never send mail.
#[cfg(not(target_arch = "wasm32"))]
async fn sleep(d: Duration) {
    std::thread::sleep(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_transient_failure_is_tried_three_times_with_growing_waits() {
        let f = Failure::Answered(503);
        assert_eq!(inline_wait(1, &f), Some(Duration::from_millis(500)));
        assert_eq!(inline_wait(2, &f), Some(Duration::from_millis(2_000)));
        assert_eq!(inline_wait(3, &f), None);
        assert_eq!(inline_wait(0, &f), None);
        let f = Failure::Unreachable("connection refused".into());
        assert!(inline_wait(1, &f).is_some());
        assert!(inline_wait(1, &Failure::TimedOut(15)).is_some());
        assert!(inline_wait(1, &Failure::Answered(429)).is_some());
    }

    #[test]
    fn a_run_passes_again_while_it_finds_mail_and_lets_go_when_it_finds_none() {
        assert_eq!(after_pass(true, false, false), Next::Wait);
        assert_eq!(after_pass(false, false, false), Next::LetGo);
        assert_eq!(
            after_pass(true, true, false),
            Next::End,
            "the relay is down"
        );
        assert_eq!(after_pass(false, false, true), Next::End, "out of time");
    }

    #[test]
    fn refusals_and_configuration_errors_are_not_retried_at_once() {
        assert_eq!(inline_wait(1, &Failure::Answered(400)), None);
        assert_eq!(inline_wait(1, &Failure::Answered(401)), None);
        assert_eq!(
            inline_wait(1, &Failure::Config("relay origin not allowed".into())),
            None
        );
    }
}
