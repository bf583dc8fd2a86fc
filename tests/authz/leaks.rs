//! Zero leaks (issue 11 part 1): what a customer may not open never shows
//! up anywhere else either: not in lists, text search, totals, counts, the
//! request page's activity and files, the access-request list or the
//! organization page. Each hidden thing carries a unique word, so a search
//! that finds it, or a page that mentions it, is a leak.

use std::collections::BTreeSet;

use edgedesk_e2e::desk::Person;
use edgedesk_e2e::{Value, json};

use crate::world::World;

fn keys(v: &Value) -> BTreeSet<String> {
    v["items"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|i| i["key"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

async fn raise(
    p: &Person,
    summary: &str,
    visibility: &str,
    file: Option<&str>,
) -> anyhow::Result<String> {
    let mut body = json!({
        "request_type": "technical-support",
        "summary": summary,
        "description": format!("About the {summary}."),
        "visibility": visibility,
    });
    if let Some(id) = file {
        body["attachment_ids"] = json!([id]);
    }
    let r = p.client.post_json("/api/requests", &body).await?;
    anyhow::ensure!(r.status == 201, "raise {summary}: {}", r.text());
    Ok(r.json()?["key"].as_str().unwrap_or_default().to_owned())
}

/// A list a customer sees: total agrees with the items, and none of
/// `hidden` is among them.
async fn list_hides(
    p: &Person,
    query: &str,
    hidden: &[&String],
) -> anyhow::Result<BTreeSet<String>> {
    let r = p
        .client
        .get(&format!("/api/requests?{query}&per_page=100"))
        .await?;
    assert_eq!(r.status, 200, "{} {query}: {}", p.username, r.text());
    let v = r.json()?;
    let got = keys(&v);
    assert_eq!(
        v["total"].as_u64(),
        Some(got.len() as u64),
        "{} {query}: total",
        p.username
    );
    for h in hidden {
        assert!(!got.contains(*h), "{} sees {h} in {query}", p.username);
    }
    Ok(got)
}

/// Runs on the matrix's world before the matrix (one world for both: its
/// people cost most of the time), inside
/// `matrix::every_caller_gets_the_expected_answer_on_every_operation`.
pub async fn lists_search_counts_and_files_never_show_what_a_customer_may_not_see(
    w: &World,
) -> anyhow::Result<()> {
    let (ann, bob, gil, opal) = (&w.ann, &w.bob, &w.gil, &w.opal);

    // Each thing has a word nobody else uses.
    let f_bob = w.upload(&bob.client).await?;
    let f_gil = w.upload(&gil.client).await?;
    let own = raise(ann, "aardvark", "private", None).await?;
    let shared = raise(bob, "badger", "organization", None).await?;
    let bob_private = raise(bob, "cobra", "private", Some(&f_bob)).await?;
    let globex = raise(gil, "gecko", "organization", Some(&f_gil)).await?;
    // An internal note with a file on the shared request: operators only.
    let f_note = w.upload(&opal.client).await?;
    let r = opal
        .client
        .post_json(
            &format!("/api/agent/requests/{shared}/comments"),
            &json!({ "body": "narwhal inside", "internal": true, "attachment_ids": [f_note] }),
        )
        .await?;
    assert_eq!(r.status, 201, "{}", r.text());
    // Globex's people talk on their request.
    let r = gil
        .client
        .post_json(
            &format!("/api/requests/{globex}/comments"),
            &json!({ "body": "platypus" }),
        )
        .await?;
    assert_eq!(r.status, 201, "{}", r.text());

    // Ann: her own and the shared one, never Bob's private or Globex's.
    let hidden = [&bob_private, &globex];
    let all = list_hides(ann, "created_by=anyone&status=any", &hidden).await?;
    assert_eq!(all, BTreeSet::from([own.clone(), shared.clone()]));
    for status in ["open", "closed", "any"] {
        list_hides(ann, &format!("created_by=me&status={status}"), &hidden).await?;
    }
    for word in [
        "cobra",
        "gecko",
        "platypus",
        "narwhal",
        bob_private.as_str(),
        globex.as_str(),
    ] {
        for who in ["me", "anyone"] {
            let got = list_hides(
                ann,
                &format!("created_by={who}&status=any&q={word}"),
                &hidden,
            )
            .await?;
            assert!(got.is_empty(), "ann searching {word} ({who}) found {got:?}");
        }
    }
    // Gil at Globex: nothing of Acme's, whatever he searches.
    let acme = [&own, &shared, &bob_private];
    let got = list_hides(gil, "created_by=anyone&status=any", &acme).await?;
    assert_eq!(got, BTreeSet::from([globex.clone()]));
    for word in [
        "aardvark",
        "badger",
        "cobra",
        "narwhal",
        own.as_str(),
        shared.as_str(),
    ] {
        let got = list_hides(
            gil,
            &format!("created_by=anyone&status=any&q={word}"),
            &acme,
        )
        .await?;
        assert!(got.is_empty(), "gil searching {word} found {got:?}");
    }
    // Bob: his private one yes, Ann's private one no.
    let got = list_hides(bob, "created_by=anyone&status=any", &[&own, &globex]).await?;
    assert_eq!(got, BTreeSet::from([shared.clone(), bob_private.clone()]));

    // Counts and the queue (with its totals) are for operators: 404, not a number.
    for p in [ann, gil] {
        for path in [
            "/api/agent/counts",
            "/api/agent/requests",
            "/api/agent/requests?q=cobra",
            "/api/agent/requests?organization=anything",
            "/api/agent/operators",
            "/api/admin/users?q=gil",
            "/api/admin/organizations?q=Globex",
            "/api/admin/reports",
        ] {
            let r = p.client.get(path).await?;
            assert_eq!(r.status, 404, "{} GET {path}: {}", p.username, r.text());
            assert!(!r.text().contains("total"), "{path}: {}", r.text());
        }
    }
    // Operators' counts do see everything: the customers' 404 hides something real.
    let counts = opal.client.get("/api/agent/counts").await?.json()?;
    assert_eq!(counts["open"].as_i64(), Some(4), "{counts}");

    // Files: someone else's private file, another organization's file and an
    // internal note's file are 404, inline or not, and cannot be removed.
    for (p, id) in [
        (ann, &f_bob),
        (ann, &f_gil),
        (ann, &f_note),
        (bob, &f_note),
        (gil, &f_bob),
        (gil, &f_note),
    ] {
        for path in [
            format!("/api/attachments/{id}"),
            format!("/api/attachments/{id}?inline=1"),
        ] {
            let r = p.client.get(&path).await?;
            assert_eq!(r.status, 404, "{} GET {path}", p.username);
        }
        let r = p.client.delete(&format!("/api/attachments/{id}")).await?;
        assert_eq!(r.status, 404, "{} DELETE {id}", p.username);
    }
    // The shared request's page shows neither the note nor its file.
    for p in [ann, bob] {
        let r = p.client.get(&format!("/api/requests/{shared}")).await?;
        assert_eq!(r.status, 200);
        let text = r.text();
        assert!(
            !text.contains("narwhal"),
            "{}: note on the page",
            p.username
        );
        assert!(
            !text.contains(&f_note),
            "{}: note's file on the page",
            p.username
        );
    }
    let page = opal
        .client
        .get(&format!("/api/requests/{shared}"))
        .await?
        .text();
    assert!(
        page.contains("narwhal") && page.contains(&f_note),
        "operators see the note"
    );

    // Access requests: Ann decides Acme's only; Gil sees no Acme person.
    let pending_globex = w.access_request("other").await?;
    let pending_acme = w.access_request("shared").await?;
    for (p, hidden) in [(ann, &pending_globex), (gil, &pending_acme)] {
        for query in [
            "",
            "?status=pending",
            "?status=declined",
            "?status=approved",
        ] {
            let r = p
                .client
                .get(&format!("/api/access-requests{query}"))
                .await?;
            assert_eq!(r.status, 200, "{}", r.text());
            let v = r.json()?;
            assert!(
                !r.text().contains(hidden.as_str()),
                "{} sees {hidden}",
                p.username
            );
            let n = v["items"].as_array().map(Vec::len).unwrap_or(0);
            assert_eq!(v["total"].as_u64(), Some(n as u64), "{} total", p.username);
        }
    }
    // The organization page lists Acme's people only.
    let org = ann.client.get("/api/organizations/mine").await?.text();
    assert!(
        org.contains(&bob.email) && !org.contains(&gil.email),
        "{org}"
    );

    // People without approved access see no requests at all: the desk
    // answers 403 access_not_approved before looking anything up, so an
    // existing key or file gets exactly the answer of one that never existed.
    for name in ["pending", "declined"] {
        let c = w.callers[name].client(&w.desk);
        let r = c.get("/api/requests?created_by=anyone&status=any").await?;
        assert_eq!(r.status, 403, "{name}: {}", r.text());
        for (real, none) in [
            (
                format!("/api/requests/{shared}"),
                "/api/requests/SD-99999".to_owned(),
            ),
            (
                format!("/api/attachments/{f_bob}"),
                "/api/attachments/no-such-file".to_owned(),
            ),
        ] {
            let (a, b) = (c.get(&real).await?, c.get(&none).await?);
            assert!(a.status >= 400, "{name} {real}: {}", a.status);
            assert_eq!(
                (a.status, a.text()),
                (b.status, b.text()),
                "{name}: {real} vs {none}"
            );
        }
        let r = c.get("/api/access-requests").await?;
        assert!(
            !r.text().contains(&pending_acme) && !r.text().contains(&pending_globex),
            "{name}: {}",
            r.text()
        );
    }
    Ok(())
}
