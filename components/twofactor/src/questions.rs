//! Security questions: three distinct questions per user, two from the
//! catalogue and one of the user's own. At sign-in two of the three are asked,
//! chosen at random; both answers must be right.
//!
//! Answers are normalised (trimmed, lowercased, inner whitespace collapsed) and
//! stored as argon2id hashes, like passwords: they are low-entropy secrets. The
//! asked pair is kept server-side until answered, so asking again does not
//! reveal the third question (an attacker cannot shop for questions they know).

use edgedesk_core::db::transaction;
use edgedesk_core::{ApiError, Random, Sql, params, password, validate};
use serde::{Deserialize, Serialize};

use crate::challenges;
use crate::methods::{self, Kind};

pub const CUSTOM_ID: &str = "custom";
pub const MAX_ANSWER_CHARS: usize = 200;
pub const MAX_QUESTION_CHARS: usize = 200;
/// How long the asked pair waits for its answers.
pub const CHALLENGE_S: i64 = 10 * 60;
const PURPOSE: &str = "questions";

/// The catalogue: questions whose answers are memorable, stable over a life and
/// not usually public.
pub const CATALOG: &[(&str, &str)] = &[
    ("first_pet", "What was the name of your first pet?"),
    (
        "childhood_friend",
        "What was the first name of your best friend as a child?",
    ),
    (
        "first_school",
        "What was the name of the first school you attended?",
    ),
    (
        "childhood_street",
        "What was the name of the street you grew up on?",
    ),
    (
        "first_car",
        "What was the make and model of your first car?",
    ),
    (
        "first_job",
        "What was the name of the company where you had your first job?",
    ),
    (
        "favourite_teacher",
        "What was the surname of your favourite teacher?",
    ),
    (
        "parents_met",
        "In which town or city did your parents meet?",
    ),
    (
        "first_concert",
        "Which band or artist did you see at your first concert?",
    ),
    ("childhood_nickname", "What was your nickname as a child?"),
    (
        "first_holiday",
        "Where did you go on your first holiday abroad?",
    ),
];

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Question {
    pub id: String,
    pub text: String,
}

pub fn catalog() -> Vec<Question> {
    CATALOG
        .iter()
        .map(|(id, text)| Question {
            id: (*id).to_owned(),
            text: (*text).to_owned(),
        })
        .collect()
}

/// One entry of the setup body: a catalogue question or the custom one.
#[derive(Debug, Clone, Deserialize)]
pub struct AnswerIn {
    pub question_id: Option<String>,
    pub custom_question: Option<String>,
    pub answer: String,
}

/// Trim, lowercase, collapse whitespace: "  Rex   the DOG " == "rex the dog".
pub fn normalize(answer: &str) -> String {
    answer
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

fn check_answer(field: &str, raw: &str) -> Result<String, ApiError> {
    // Bound the work before normalising (huge answers are refused outright).
    if raw.len() > MAX_ANSWER_CHARS * 4 {
        return Err(ApiError::invalid(
            field,
            "too_long",
            format!("Use at most {MAX_ANSWER_CHARS} characters."),
        ));
    }
    // Whitespace (tabs and newlines too) collapses before the character check.
    validate::line(field, &normalize(raw), 1, MAX_ANSWER_CHARS)
}

/// Sets (or replaces) the three questions. Hashes three answers with argon2id.
pub fn set(
    sql: &dyn Sql,
    rng: &dyn Random,
    user_id: &str,
    answers: &[AnswerIn],
    now: i64,
) -> Result<(), ApiError> {
    if answers.len() != 3 {
        return Err(ApiError::invalid(
            "answers",
            "invalid_questions",
            "Answer exactly three questions: two from the list and one of your own.",
        ));
    }
    let mut rows: Vec<(String, String, String)> = Vec::with_capacity(3);
    let mut customs = 0;
    for (i, a) in answers.iter().enumerate() {
        let field = format!("answers[{i}]");
        let (qid, text) = match (&a.question_id, &a.custom_question) {
            (Some(id), None) => {
                let (id, text) = CATALOG
                    .iter()
                    .find(|(cid, _)| *cid == id.as_str())
                    .ok_or_else(|| {
                        ApiError::invalid(
                            &format!("{field}.question_id"),
                            "unknown_question",
                            "Choose a question from the list.",
                        )
                    })?;
                ((*id).to_owned(), (*text).to_owned())
            }
            (None, Some(q)) => {
                customs += 1;
                let q = validate::line(
                    &format!("{field}.custom_question"),
                    q,
                    5,
                    MAX_QUESTION_CHARS,
                )?;
                (CUSTOM_ID.to_owned(), q)
            }
            _ => {
                return Err(ApiError::invalid(
                    &field,
                    "invalid_questions",
                    "Give either a question from the list or your own question.",
                ));
            }
        };
        let answer = check_answer(&format!("{field}.answer"), &a.answer)?;
        rows.push((qid, text, answer));
    }
    if customs != 1 {
        return Err(ApiError::invalid(
            "answers",
            "custom_question_required",
            "Two questions come from the list and the third is your own question.",
        ));
    }
    for i in 0..3 {
        for j in 0..i {
            if rows[i].0 == rows[j].0 || normalize(&rows[i].1) == normalize(&rows[j].1) {
                return Err(ApiError::invalid(
                    &format!("answers[{i}]"),
                    "duplicate_question",
                    "Choose three different questions.",
                ));
            }
        }
    }
    let mut hashed = Vec::with_capacity(3);
    for (qid, text, answer) in rows {
        hashed.push((qid, text, password::hash(&answer, rng)?));
    }
    transaction(sql, || {
        sql.execute(
            "DELETE FROM twofactor_questions WHERE user_id = ?1",
            params![user_id],
        )?;
        sql.execute(
            "DELETE FROM twofactor_challenges WHERE user_id = ?1 AND purpose = ?2",
            params![user_id, PURPOSE],
        )?;
        for (pos, (qid, text, h)) in hashed.iter().enumerate() {
            sql.execute(
                "INSERT INTO twofactor_questions (user_id, position, question_id, text, answer_hash) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![user_id, pos as i64, qid.as_str(), text.as_str(), h.as_str()],
            )?;
        }
        methods::add(sql, user_id, Kind::SecurityQuestions, now)
    })
}

const LIST: &str = "SELECT question_id, text, answer_hash FROM twofactor_questions \
     WHERE user_id = ?1 ORDER BY position";

fn stored(sql: &dyn Sql, user_id: &str) -> Result<Vec<(String, String, String)>, ApiError> {
    let rows = sql.execute(LIST, params![user_id])?;
    rows.rows
        .iter()
        .map(|r| Ok((r.text(0)?, r.text(1)?, r.text(2)?)))
        .collect()
}

/// The user's questions (texts only), for the settings page.
pub fn texts(sql: &dyn Sql, user_id: &str) -> Result<Vec<Question>, ApiError> {
    Ok(stored(sql, user_id)?
        .into_iter()
        .map(|(id, text, _)| Question { id, text })
        .collect())
}

/// The two questions to ask: the pending pair if there is one, else two of the
/// three at random.
pub fn challenge(
    sql: &dyn Sql,
    rng: &dyn Random,
    user_id: &str,
    now: i64,
) -> Result<Vec<Question>, ApiError> {
    let all = texts(sql, user_id)?;
    if all.len() != 3 {
        return Err(methods::not_configured());
    }
    let pending: Option<Vec<String>> =
        challenges::peek(sql, user_id, PURPOSE, now)?.and_then(|d| serde_json::from_str(&d).ok());
    let ids = match pending {
        Some(ids) if ids.len() == 2 && ids.iter().all(|id| all.iter().any(|q| &q.id == id)) => ids,
        _ => {
            let skip = rng.below(3) as usize;
            let ids: Vec<String> = all
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != skip)
                .map(|(_, q)| q.id.clone())
                .collect();
            let data = serde_json::to_string(&ids).map_err(ApiError::internal)?;
            challenges::put(sql, user_id, PURPOSE, &data, now + CHALLENGE_S)?;
            ids
        }
    };
    Ok(ids
        .iter()
        .filter_map(|id| all.iter().find(|q| &q.id == id).cloned())
        .collect())
}

#[derive(Debug, Clone, Deserialize)]
pub struct GivenAnswer {
    pub question_id: String,
    pub answer: String,
}

/// Checks the answers to the asked pair (and uses the pair up). `Ok(false)` for
/// a wrong answer; `400 challenge_required` when nothing was asked.
pub fn verify(
    sql: &dyn Sql,
    user_id: &str,
    given: &[GivenAnswer],
    now: i64,
) -> Result<bool, ApiError> {
    if given.len() != 2 {
        return Err(ApiError::invalid(
            "answers",
            "invalid_answers",
            "Answer both questions.",
        ));
    }
    let mut normalized = Vec::with_capacity(2);
    for (i, g) in given.iter().enumerate() {
        normalized.push((
            g.question_id.as_str(),
            check_answer(&format!("answers[{i}].answer"), &g.answer)?,
        ));
    }
    let asked: Vec<String> = challenges::take(sql, user_id, PURPOSE, now)?
        .and_then(|d| serde_json::from_str(&d).ok())
        .ok_or_else(|| {
            ApiError::bad_request(
                "challenge_required",
                "Ask for the questions first (POST /api/2fa/challenge).",
            )
        })?;
    let all = stored(sql, user_id)?;
    let mut ok = true;
    for id in &asked {
        let hash = all
            .iter()
            .find(|(qid, _, _)| qid == id)
            .map(|(_, _, h)| h.as_str());
        let answer = normalized.iter().find(|(qid, _)| qid == id).map(|(_, a)| a);
        // Both hashes are always computed: timing does not tell which was wrong.
        let right = match (hash, answer) {
            (Some(h), Some(a)) => password::verify(a, h),
            (_, a) => {
                password::dummy_verify(a.map(String::as_str).unwrap_or(""));
                false
            }
        };
        ok &= right;
    }
    Ok(ok)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::db;
    use edgedesk_core::random::OsRandom;

    fn setup_body(custom: &str) -> Vec<AnswerIn> {
        vec![
            AnswerIn {
                question_id: Some("first_pet".into()),
                custom_question: None,
                answer: "  Rex   the DOG ".into(),
            },
            AnswerIn {
                question_id: Some("first_car".into()),
                custom_question: None,
                answer: "Fiat Panda".into(),
            },
            AnswerIn {
                question_id: None,
                custom_question: Some(custom.into()),
                answer: "Blue".into(),
            },
        ]
    }

    fn answer(id: &str, a: &str) -> GivenAnswer {
        GivenAnswer {
            question_id: id.into(),
            answer: a.into(),
        }
    }

    fn right(id: &str) -> &'static str {
        match id {
            "first_pet" => "rex the dog",
            "first_car" => "FIAT\tpanda",
            _ => " blue",
        }
    }

    #[test]
    fn normalization_ignores_case_and_whitespace() {
        assert_eq!(normalize("  Rex \t the\n DOG "), "rex the dog");
        assert_eq!(normalize("ÉCOLE Saint-Jean"), "école saint-jean");
    }

    #[test]
    fn catalog_has_unique_ids() {
        let c = catalog();
        assert!(c.len() >= 10);
        for (i, q) in c.iter().enumerate() {
            assert!(c[..i].iter().all(|p| p.id != q.id));
        }
    }

    #[test]
    fn setup_needs_two_catalogue_questions_and_one_custom() {
        let db = db();
        let mut b = setup_body("Favourite colour of my first bike?");
        b[2].custom_question = None;
        b[2].question_id = Some("first_job".into());
        let e = set(&db, &OsRandom, "u1", &b, 0).unwrap_err();
        assert_eq!(e.code(), "custom_question_required");
        let mut b = setup_body("Favourite colour of my first bike?");
        b[1].question_id = Some("first_pet".into());
        assert_eq!(
            set(&db, &OsRandom, "u1", &b, 0).unwrap_err().code(),
            "duplicate_question"
        );
        let b = setup_body("What was the name of your first pet?");
        assert_eq!(
            set(&db, &OsRandom, "u1", &b, 0).unwrap_err().code(),
            "duplicate_question"
        );
        let mut b = setup_body("Favourite colour of my first bike?");
        b[0].answer = "x".repeat(5000);
        assert_eq!(
            set(&db, &OsRandom, "u1", &b, 0).unwrap_err().code(),
            "too_long"
        );
        let mut b = setup_body("Favourite colour of my first bike?");
        b[0].answer = "   ".into();
        assert_eq!(set(&db, &OsRandom, "u1", &b, 0).unwrap_err().status(), 400);
        let mut b = setup_body("Favourite colour of my first bike?");
        b[0].question_id = Some("nope".into());
        assert_eq!(
            set(&db, &OsRandom, "u1", &b, 0).unwrap_err().code(),
            "unknown_question"
        );
        assert!(!methods::is_configured(&db, "u1", Kind::SecurityQuestions).unwrap());
    }

    #[test]
    fn answers_are_hashed_and_two_random_questions_are_asked() {
        let db = db();
        let custom = "Favourite colour of my first bike?";
        set(&db, &OsRandom, "u1", &setup_body(custom), 0).unwrap();
        assert!(methods::is_configured(&db, "u1", Kind::SecurityQuestions).unwrap());
        let hashes = db
            .execute("SELECT answer_hash FROM twofactor_questions", &[])
            .unwrap();
        for r in &hashes.rows {
            assert!(r.text(0).unwrap().starts_with("$argon2id$"));
        }
        let mut seen = std::collections::HashSet::new();
        for _ in 0..20 {
            let asked = challenge(&db, &OsRandom, "u1", 100).unwrap();
            assert_eq!(asked.len(), 2);
            assert_ne!(asked[0].id, asked[1].id);
            // Asking again before answering gives the same pair.
            assert_eq!(challenge(&db, &OsRandom, "u1", 101).unwrap(), asked);
            if let Some(q) = asked.iter().find(|q| q.id == CUSTOM_ID) {
                assert_eq!(q.text, custom);
            }
            seen.insert(asked.iter().map(|q| q.id.clone()).collect::<Vec<_>>());
            // Drop the pair without the (slow) argon2 checks; verified below.
            challenges::take(&db, "u1", PURPOSE, 100).unwrap();
        }
        assert!(seen.len() >= 2, "the pair should vary: {seen:?}");

        let asked = challenge(&db, &OsRandom, "u1", 200).unwrap();
        let given: Vec<GivenAnswer> = asked.iter().map(|q| answer(&q.id, right(&q.id))).collect();
        assert!(verify(&db, "u1", &given, 201).unwrap());
        // Used up: answering again needs a new challenge.
        assert_eq!(
            verify(&db, "u1", &given, 202).unwrap_err().code(),
            "challenge_required"
        );
        let asked = challenge(&db, &OsRandom, "u1", 300).unwrap();
        let mut given: Vec<GivenAnswer> =
            asked.iter().map(|q| answer(&q.id, right(&q.id))).collect();
        given[1].answer = "wrong".into();
        assert!(!verify(&db, "u1", &given, 301).unwrap());
        // Answering a question that was not asked does not count.
        let asked = challenge(&db, &OsRandom, "u1", 400).unwrap();
        let not_asked = ["first_pet", "first_car", CUSTOM_ID]
            .into_iter()
            .find(|id| asked.iter().all(|q| q.id != *id))
            .unwrap();
        let given = vec![
            answer(&asked[0].id, right(&asked[0].id)),
            answer(not_asked, right(not_asked)),
        ];
        assert!(!verify(&db, "u1", &given, 401).unwrap());
    }
}
