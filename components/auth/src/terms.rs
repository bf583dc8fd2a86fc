//! The terms and conditions: one current version, shown in the sign-up dialog
//! and on the profile page. Bumping `CURRENT_VERSION` makes every user's
//! `terms_version_accepted` differ from it, so pages can ask again.

pub const CURRENT_VERSION: &str = "2026-01";

pub const TEXT: &str = "\
EdgeDesk Service Desk terms and conditions (version 2026-01)

1. The service. The service desk portal lets people of our customer organizations raise support requests, follow them and rate the answers. Access to requests is granted per organization after approval.

2. Your account. Keep your password and second factor to yourself. You are responsible for what is done with your account. Tell us at once if you think someone else has used it.

3. Acceptable use. Do not upload malware, unlawful content or other people's personal data without a lawful basis. Do not try to reach data you were not given access to, or to disrupt the service.

4. Your data. We keep your name, email address, phone number (if you give one) and the requests you raise, to provide the service. Requests shared with your organization are visible to its approved members. Operators see requests to answer them.

5. Email. We send mail needed for the service: confirmations, security notices and updates on your requests. You can turn off request updates per request.

6. Changes. We may change these terms; when we do, we ask you to accept the new version at your next sign-in.

7. Ending. You may stop using the service at any time. We may suspend accounts that break these terms.
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_text_names_its_version() {
        assert!(TEXT.contains(CURRENT_VERSION));
    }
}
