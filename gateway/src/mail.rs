//! E-mail: address verification, password reset, invitations and budget alerts, in English or
//! Spanish, sent through SMTP (`SMTP_URL`, with lettre) or, without SMTP, written to the log so a
//! developer can follow the links.

use lettre::message::{Mailbox, header::ContentType};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

/// The languages of the portal and its e-mails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum Lang {
    #[default]
    En,
    Es,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Es => "es",
        }
    }

    /// A stored language (an account's or a member's `locale`); English when unset or unknown.
    pub fn of_stored(locale: Option<&str>) -> Self {
        locale.and_then(Self::parse).unwrap_or_default()
    }

    pub fn parse(code: &str) -> Option<Self> {
        match code.trim().to_ascii_lowercase().get(..2)? {
            "en" => Some(Lang::En),
            "es" => Some(Lang::Es),
            _ => None,
        }
    }
}

/// One e-mail, ready to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Mail {
    pub lang: Lang,
    pub subject: String,
    pub text: String,
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("SMTP_URL is not a valid SMTP URL: {0}")]
    Url(String),
    #[error("not a valid e-mail address: {0}")]
    Address(String),
    #[error("the message could not be built: {0}")]
    Build(String),
    #[error("the SMTP server refused or failed: {0}")]
    Smtp(String),
}

pub struct Mailer {
    transport: Option<AsyncSmtpTransport<Tokio1Executor>>,
    from: Mailbox,
}

impl Mailer {
    /// `smtp_url`: `smtp://host:port` (plain, for a local relay), `smtp://user:pass@host:587?tls=required`
    /// (STARTTLS) or `smtps://user:pass@host` (TLS); `None` writes e-mails to the log.
    pub fn new(smtp_url: Option<&str>, from: &str) -> Result<Self, MailError> {
        let from: Mailbox = from
            .parse()
            .map_err(|_| MailError::Address(from.to_owned()))?;
        let transport = match smtp_url.map(str::trim).filter(|url| !url.is_empty()) {
            None => None,
            Some(url) => Some(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(|err| MailError::Url(err.to_string()))?
                    .timeout(Some(std::time::Duration::from_secs(10)))
                    .build(),
            ),
        };
        Ok(Self { transport, from })
    }

    pub fn sends_mail(&self) -> bool {
        self.transport.is_some()
    }

    pub async fn send(&self, to: &str, mail: &Mail) -> Result<(), MailError> {
        let recipient: Mailbox = to.parse().map_err(|_| MailError::Address(to.to_owned()))?;
        let Some(transport) = &self.transport else {
            // Development without SMTP: the text (and its links) in the log, as the README says.
            tracing::info!(to, subject = %mail.subject, "no SMTP_URL: e-mail not sent; its text follows\n{}", mail.text);
            return Ok(());
        };
        let message = Message::builder()
            .from(self.from.clone())
            .to(recipient)
            .subject(&mail.subject)
            .header(ContentType::TEXT_PLAIN)
            .header(ContentLanguage(mail.lang.code().to_owned()))
            .body(mail.text.clone())
            .map_err(|err| MailError::Build(err.to_string()))?;
        transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|err| MailError::Smtp(err.to_string()))
    }

    /// Sends without making the caller wait; a failure is logged (never the link it carried).
    pub fn send_later(self: &std::sync::Arc<Self>, to: String, mail: Mail) {
        let mailer = std::sync::Arc::clone(self);
        tokio::spawn(async move {
            if let Err(err) = mailer.send(&to, &mail).await {
                tracing::error!(error = %err, subject = %mail.subject, "could not send an e-mail");
            }
        });
    }
}

/// `Content-Language`, so mail clients know which language they show.
#[derive(Debug, Clone)]
struct ContentLanguage(String);

impl lettre::message::header::Header for ContentLanguage {
    fn name() -> lettre::message::header::HeaderName {
        lettre::message::header::HeaderName::new_from_ascii_str("Content-Language")
    }

    fn parse(value: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self(value.to_owned()))
    }

    fn display(&self) -> lettre::message::header::HeaderValue {
        lettre::message::header::HeaderValue::new(Self::name(), self.0.clone())
    }
}

/// The e-mails, in each language. Links are whole URLs made from the portal's public address.
pub mod messages {
    use super::{Lang, Mail};

    pub fn verify_email(lang: Lang, link: &str) -> Mail {
        let (subject, text) = match lang {
            Lang::En => (
                "Confirm your e-mail address for LLM Gateway".to_owned(),
                format!(
                    "Welcome to LLM Gateway.\n\nConfirm your e-mail address to create gateway keys:\n\n{link}\n\nThe link works once and expires in 24 hours. If you did not sign up, ignore this message.\n"
                ),
            ),
            Lang::Es => (
                "Confirma tu dirección de correo en LLM Gateway".to_owned(),
                format!(
                    "Te damos la bienvenida a LLM Gateway.\n\nConfirma tu dirección de correo para crear claves de la pasarela:\n\n{link}\n\nEl enlace sirve una sola vez y caduca en 24 horas. Si no te registraste, ignora este mensaje.\n"
                ),
            ),
        };
        Mail {
            lang,
            subject,
            text,
        }
    }

    /// To the owner of an address someone signed up with again: the sign-up form answers as for
    /// a new address, so the owner learns it here (and a stranger learns nothing).
    pub fn already_registered(lang: Lang, login_link: &str, forgot_link: &str) -> Mail {
        let (subject, text) = match lang {
            Lang::En => (
                "You already have an LLM Gateway account".to_owned(),
                format!(
                    "Someone, perhaps you, tried to sign up to LLM Gateway with this address, which already has an account.\n\nLog in here:\n\n{login_link}\n\nForgot your password? Choose a new one here:\n\n{forgot_link}\n\nIf it was not you, ignore this message: nothing changed.\n"
                ),
            ),
            Lang::Es => (
                "Ya tienes una cuenta de LLM Gateway".to_owned(),
                format!(
                    "Alguien, quizá tú, intentó registrarse en LLM Gateway con esta dirección, que ya tiene una cuenta.\n\nInicia sesión aquí:\n\n{login_link}\n\n¿Olvidaste tu contraseña? Elige una nueva aquí:\n\n{forgot_link}\n\nSi no fuiste tú, ignora este mensaje: nada cambió.\n"
                ),
            ),
        };
        Mail {
            lang,
            subject,
            text,
        }
    }

    pub fn reset_password(lang: Lang, link: &str) -> Mail {
        let (subject, text) = match lang {
            Lang::En => (
                "Reset your LLM Gateway password".to_owned(),
                format!(
                    "Someone asked to reset the password of your LLM Gateway account.\n\nChoose a new password here:\n\n{link}\n\nThe link works once and expires in one hour. If it was not you, ignore this message: your password stays as it is.\n"
                ),
            ),
            Lang::Es => (
                "Restablece tu contraseña de LLM Gateway".to_owned(),
                format!(
                    "Alguien pidió restablecer la contraseña de tu cuenta de LLM Gateway.\n\nElige una contraseña nueva aquí:\n\n{link}\n\nEl enlace sirve una sola vez y caduca en una hora. Si no fuiste tú, ignora este mensaje: tu contraseña no cambia.\n"
                ),
            ),
        };
        Mail {
            lang,
            subject,
            text,
        }
    }

    pub fn invitation(lang: Lang, inviter: &str, role: &str, link: &str) -> Mail {
        let (subject, text) = match lang {
            Lang::En => (
                format!("{inviter} invited you to their LLM Gateway organisation"),
                format!(
                    "{inviter} invited you to join their organisation on LLM Gateway as {role}.\n\nAccept the invitation here:\n\n{link}\n\nThe link works once and expires in 7 days.\n"
                ),
            ),
            Lang::Es => (
                format!("{inviter} te invitó a su organización en LLM Gateway"),
                format!(
                    "{inviter} te invitó a unirte a su organización en LLM Gateway con el rol {role}.\n\nAcepta la invitación aquí:\n\n{link}\n\nEl enlace sirve una sola vez y caduca en 7 días.\n"
                ),
            ),
        };
        Mail {
            lang,
            subject,
            text,
        }
    }

    /// `what`: "the key “production” (gw_abc…)" or the organisation.
    pub fn budget_alert(
        lang: Lang,
        what: &str,
        percent: u8,
        spent: f64,
        budget: f64,
        link: &str,
    ) -> Mail {
        let (subject, text) = match lang {
            Lang::En => (
                format!("LLM Gateway: {percent}% of the monthly budget of {what} is spent"),
                format!(
                    "{what} has spent ${spent:.2} of its ${budget:.2} monthly budget ({percent}% alert).\n\nAt the budget, requests are refused with 429 budget_exceeded until the month ends. Review the limits here:\n\n{link}\n"
                ),
            ),
            Lang::Es => (
                format!("LLM Gateway: se gastó el {percent}% del presupuesto mensual de {what}"),
                format!(
                    "{what} gastó ${spent:.2} de su presupuesto mensual de ${budget:.2} (alerta del {percent}%).\n\nAl llegar al presupuesto, las solicitudes se rechazan con 429 budget_exceeded hasta que termine el mes. Revisa los límites aquí:\n\n{link}\n"
                ),
            ),
        };
        Mail {
            lang,
            subject,
            text,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_exists_in_both_languages_with_its_link() {
        let link = "https://gw.example.com/reset?token=abc";
        for lang in [Lang::En, Lang::Es] {
            for mail in [
                messages::verify_email(lang, link),
                messages::reset_password(lang, link),
                messages::invitation(lang, "ada@example.com", "admin", link),
                messages::budget_alert(lang, "the organisation", 80, 8.0, 10.0, link),
            ] {
                assert!(mail.text.contains(link), "{mail:?}");
                assert_eq!(mail.lang, lang);
            }
        }
        assert!(
            messages::reset_password(Lang::Es, link)
                .subject
                .contains("contraseña")
        );
    }

    #[test]
    fn languages_parse_from_tags() {
        assert_eq!(Lang::parse("es-MX"), Some(Lang::Es));
        assert_eq!(Lang::parse("EN"), Some(Lang::En));
        assert_eq!(Lang::parse("fr"), None);
    }

    #[test]
    fn a_bad_smtp_url_or_sender_is_refused_at_start() {
        assert!(matches!(
            Mailer::new(Some("http://x"), "a@example.com"),
            Err(MailError::Url(_))
        ));
        assert!(matches!(
            Mailer::new(None, "not an address"),
            Err(MailError::Address(_))
        ));
        assert!(
            !Mailer::new(None, "LLM Gateway <noreply@example.com>")
                .unwrap()
                .sends_mail()
        );
    }
}
