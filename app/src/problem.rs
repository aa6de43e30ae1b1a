//! What a portal server function refuses, as data rather than text: the browser words it in the
//! reader's language (`errors.*` in app/locales) and words it again when they switch. The JSON a
//! server function answers with names the problem, e.g. `{"Refused":{"PasswordTooShort":{"min":10}}}`.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::i18n::{t, use_i18n};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Problem {
    InvalidEmail,
    EmailTaken,
    PasswordTooShort {
        min: usize,
    },
    PasswordTooLong {
        max: usize,
    },
    PasswordRepetitive,
    PasswordGuessable,
    WrongCredentials,
    KeyNotFound,
    KeyNameTooLong {
        max: usize,
    },
    UnknownProvider {
        name: String,
        expected: String,
    },
    MissingApiKey,
    ProviderKeyIsGatewayKey,
    InvalidBaseUrl {
        url: String,
    },
    BaseUrlPlainHttp {
        url: String,
    },
    /// `host` is empty when the URL names the address itself.
    BaseUrlForbidden {
        url: String,
        host: String,
        addr: String,
        range: String,
    },
    BaseUrlUnresolvable {
        url: String,
        host: String,
        detail: String,
    },
    ProviderNotFound,
    KeyLimit {
        plan: String,
        included: String,
        in_use: u64,
    },
    ProviderLimit {
        plan: String,
        included: String,
        in_use: u64,
    },
    LinkInvalid,
    LinkExpired,
    LinkUsed,
    InviteOwner,
    AddressTaken {
        email: String,
    },
    SecondOwner,
    NoSuchMember,
    NoSuchInvitation,
    NotAllowed {
        role: String,
    },
    EmailNotVerified {
        email: String,
    },
    BudgetRange,
    AlertRange,
    RateRange,
    PolicyThreshold,
    PolicyTierOrder,
    PolicyUnknownProvider {
        name: String,
        expected: String,
    },
    PolicyDuplicateProvider {
        name: String,
    },
    PolicyNoProviders,
    PolicyEmptyForcedModel,
    PolicyUnknownBaseline {
        model: String,
    },
    /// A forced model `/v1` could not serve: the catalog does not know it.
    PolicyUnknownForcedModel {
        model: String,
    },
    /// No model of the account's providers is left for a plain `auto` request; `detail` is the
    /// API's own error message.
    PolicyLeavesNoModel {
        detail: String,
    },
    PolicyQualityChecks,
    PolicyUnknownCheck {
        name: String,
    },
    PolicyEmptyRule {
        index: usize,
    },
    /// Settings given as JSON that do not parse (the parser's own words).
    Unreadable {
        detail: String,
    },
    TooManyLogInsFromNetwork {
        seconds: u64,
    },
    TooManyLogInsForAccount {
        seconds: u64,
    },
    TooManySignUps {
        minutes: u64,
    },
    TooManyInvitations {
        minutes: u64,
    },
    BillingDisabled,
    ChoosePaidPlan,
    AlreadyOnPlan {
        plan: String,
    },
    PaymentUnavailable,
    NotForSale {
        plan: String,
    },
    NoCustomer,
    UnknownKey,
    UnknownChoice {
        value: String,
    },
    ThresholdNotNumber,
    LongPromptTokens,
    SampleMissing,
    /// A sample request `/v1` would refuse; `detail` is the API's error message (English, as
    /// programs read it).
    BadSample {
        detail: String,
    },
    ChooseRole,
    ChooseScope,
    /// A limits form field that is not a number: `budget`, `alert`, `rpm` or `tpm`.
    NotANumber {
        field: String,
    },
}

impl Problem {
    /// The HTTP status of a server function refusing with this problem (all the caller's to fix,
    /// or the world's: never 500).
    pub fn status(&self) -> u16 {
        use Problem::*;
        match self {
            WrongCredentials => 401,
            NotAllowed { .. } | EmailNotVerified { .. } => 403,
            KeyNotFound | ProviderNotFound | NoSuchMember | NoSuchInvitation | UnknownKey => 404,
            EmailTaken | AddressTaken { .. } | SecondOwner | AlreadyOnPlan { .. } => 409,
            KeyLimit { .. } | ProviderLimit { .. } => 409,
            LinkExpired | LinkUsed => 410,
            TooManyLogInsFromNetwork { .. }
            | TooManyLogInsForAccount { .. }
            | TooManySignUps { .. }
            | TooManyInvitations { .. } => 429,
            // Stripe did not answer: not the caller's mistake, and not ours to page on either.
            PaymentUnavailable => 502,
            _ => 400,
        }
    }
}

/// A role's name in the reader's language (`owner`, `admin`, `member`, `viewer`).
pub fn role_name(role: String) -> AnyView {
    let i18n = use_i18n();
    match role.as_str() {
        "owner" => t!(i18n, misc.role_owner).into_any(),
        "admin" => t!(i18n, misc.role_admin).into_any(),
        "member" => t!(i18n, misc.role_member).into_any(),
        "viewer" => t!(i18n, misc.role_viewer).into_any(),
        _ => role.into_any(),
    }
}

/// The problem in the reader's language.
pub fn problem_view(problem: Problem) -> AnyView {
    use Problem::*;
    let i18n = use_i18n();
    macro_rules! say {
        ($key:ident $(, $arg:ident = $value:expr)*) => {
            t!(i18n, errors.$key $(, $arg = $value)*).into_any()
        };
    }
    match problem {
        InvalidEmail => say!(invalid_email),
        EmailTaken => say!(email_taken),
        PasswordTooShort { min } => say!(password_too_short, min = min),
        PasswordTooLong { max } => say!(password_too_long, max = max),
        PasswordRepetitive => say!(password_repetitive),
        PasswordGuessable => say!(password_guessable),
        WrongCredentials => say!(wrong_credentials),
        KeyNotFound => say!(key_not_found),
        KeyNameTooLong { max } => say!(key_name_too_long, max = max),
        UnknownProvider { name, expected } => {
            say!(
                unknown_provider,
                name = name.clone(),
                expected = expected.clone()
            )
        }
        MissingApiKey => say!(missing_api_key),
        ProviderKeyIsGatewayKey => say!(provider_key_is_gateway_key),
        InvalidBaseUrl { url } => say!(invalid_base_url, url = url.clone()),
        BaseUrlPlainHttp { url } => say!(base_url_plain_http, url = url.clone()),
        BaseUrlForbidden {
            url,
            host,
            addr,
            range,
        } if host.is_empty() => say!(
            base_url_forbidden_address,
            url = url.clone(),
            addr = addr.clone(),
            range = range.clone()
        ),
        BaseUrlForbidden {
            url,
            host,
            addr,
            range,
        } => say!(
            base_url_forbidden_host,
            url = url.clone(),
            host = host.clone(),
            addr = addr.clone(),
            range = range.clone()
        ),
        BaseUrlUnresolvable { url, host, detail } => say!(
            base_url_unresolvable,
            url = url.clone(),
            host = host.clone(),
            detail = detail.clone()
        ),
        ProviderNotFound => say!(provider_not_found),
        KeyLimit {
            plan,
            included,
            in_use,
        } => say!(
            key_limit,
            plan = plan.clone(),
            included = included.clone(),
            in_use = in_use
        ),
        ProviderLimit {
            plan,
            included,
            in_use,
        } => say!(
            provider_limit,
            plan = plan.clone(),
            included = included.clone(),
            in_use = in_use
        ),
        LinkInvalid => say!(link_invalid),
        LinkExpired => say!(link_expired),
        LinkUsed => say!(link_used),
        InviteOwner => say!(invite_owner),
        AddressTaken { email } => say!(address_taken, email = email.clone()),
        SecondOwner => say!(second_owner),
        NoSuchMember => say!(no_such_member),
        NoSuchInvitation => say!(no_such_invitation),
        NotAllowed { role } => {
            let role = StoredValue::new(role);
            say!(not_allowed, role = move || role_name(role.get_value()))
        }
        EmailNotVerified { email } => say!(email_not_verified, email = email.clone()),
        BudgetRange => say!(budget_range),
        AlertRange => say!(alert_range),
        RateRange => say!(rate_range),
        PolicyThreshold => say!(policy_threshold),
        PolicyTierOrder => say!(policy_tier_order),
        PolicyUnknownProvider { name, expected } => say!(
            policy_unknown_provider,
            name = name.clone(),
            expected = expected.clone()
        ),
        PolicyDuplicateProvider { name } => say!(policy_duplicate_provider, name = name.clone()),
        PolicyNoProviders => say!(policy_no_providers),
        PolicyEmptyForcedModel => say!(policy_empty_forced_model),
        PolicyEmptyRule { index } => say!(policy_empty_rule, index = index),
        PolicyUnknownBaseline { model } => say!(policy_unknown_baseline, model = model.clone()),
        PolicyUnknownForcedModel { model } => {
            say!(policy_unknown_forced_model, model = model.clone())
        }
        PolicyLeavesNoModel { detail } => say!(policy_leaves_no_model, detail = detail.clone()),
        PolicyQualityChecks => say!(policy_quality_checks),
        PolicyUnknownCheck { name } => say!(policy_unknown_check, name = name.clone()),
        Unreadable { detail } => say!(unreadable, detail = detail.clone()),
        TooManyLogInsFromNetwork { seconds } => say!(too_many_log_ins_network, seconds = seconds),
        TooManyLogInsForAccount { seconds } => say!(too_many_log_ins_account, seconds = seconds),
        TooManySignUps { minutes } => say!(too_many_sign_ups, minutes = minutes),
        TooManyInvitations { minutes } => say!(too_many_invitations, minutes = minutes),
        BillingDisabled => say!(billing_disabled),
        ChoosePaidPlan => say!(choose_paid_plan),
        AlreadyOnPlan { plan } => say!(already_on_plan, plan = plan.clone()),
        PaymentUnavailable => say!(payment_unavailable),
        NotForSale { plan } => say!(not_for_sale, plan = plan.clone()),
        NoCustomer => say!(no_customer),
        UnknownKey => say!(unknown_key),
        UnknownChoice { value } => say!(unknown_choice, value = value.clone()),
        ThresholdNotNumber => say!(threshold_not_number),
        LongPromptTokens => say!(long_prompt_tokens),
        SampleMissing => say!(sample_missing),
        BadSample { detail } => say!(bad_sample, detail = detail.clone()),
        ChooseRole => say!(choose_role),
        ChooseScope => say!(choose_scope),
        NotANumber { field } => {
            let field = StoredValue::new(field);
            say!(not_a_number, field = move || limit_field(field.get_value()))
        }
    }
}

/// The label of a limits form field.
fn limit_field(field: String) -> AnyView {
    let i18n = use_i18n();
    match field.as_str() {
        "budget" => t!(i18n, limits.budget_label).into_any(),
        "alert" => t!(i18n, limits.alert_label).into_any(),
        "rpm" => t!(i18n, limits.rpm_label).into_any(),
        "tpm" => t!(i18n, limits.tpm_label).into_any(),
        _ => field.into_any(),
    }
}

#[cfg(feature = "ssr")]
pub(crate) mod ssr {
    use gateway::accounts::members::MemberProblem;
    use gateway::accounts::tokens::TokenError;
    use gateway::accounts::{AccountError, PlanLimitHit, Weakness};
    use gateway::egress::EgressRefusal;
    use gateway::limits::LimitsError;
    use gateway::routing::policy::PolicyError;

    use super::Problem;

    /// The problem an engine error describes, or the error back when it is a failure on our side.
    pub fn of_account_error(err: AccountError) -> Result<Problem, AccountError> {
        use AccountError as E;
        Ok(match err {
            E::InvalidEmail => Problem::InvalidEmail,
            E::EmailTaken => Problem::EmailTaken,
            E::WeakPassword(Weakness::TooShort) => Problem::PasswordTooShort {
                min: gateway::accounts::MIN_PASSWORD_LEN,
            },
            E::WeakPassword(Weakness::TooLong) => Problem::PasswordTooLong {
                max: gateway::accounts::MAX_PASSWORD_LEN,
            },
            E::WeakPassword(Weakness::Repetitive) => Problem::PasswordRepetitive,
            E::WeakPassword(Weakness::Guessable) => Problem::PasswordGuessable,
            E::WrongCredentials | E::Unconfirmed(_) | E::UnknownEmail(_) => {
                Problem::WrongCredentials
            }
            E::KeyNotFound | E::AmbiguousKeyPrefix { .. } => Problem::KeyNotFound,
            E::KeyNameTooLong => Problem::KeyNameTooLong {
                max: gateway::accounts::MAX_KEY_NAME_LEN,
            },
            E::UnknownProvider(name) => Problem::UnknownProvider {
                name,
                expected: provider_ids(),
            },
            E::MissingApiKey => Problem::MissingApiKey,
            E::ProviderKeyIsGatewayKey => Problem::ProviderKeyIsGatewayKey,
            E::InvalidBaseUrl(url) => Problem::InvalidBaseUrl { url },
            E::BaseUrlRefused { url, refusal } => of_egress_refusal(url, refusal),
            E::ProviderNotFound => Problem::ProviderNotFound,
            E::PlanLimit(PlanLimitHit::GatewayKeys {
                plan,
                included,
                in_use,
            }) => Problem::KeyLimit {
                plan: plan.into(),
                included,
                in_use,
            },
            E::PlanLimit(PlanLimitHit::Providers {
                plan,
                included,
                in_use,
            }) => Problem::ProviderLimit {
                plan: plan.into(),
                included,
                in_use,
            },
            E::Link(TokenError::Expired) => Problem::LinkExpired,
            E::Link(TokenError::Used) => Problem::LinkUsed,
            E::Link(TokenError::Invalid | TokenError::Database(_)) => Problem::LinkInvalid,
            E::Members(MemberProblem::InviteOwner) => Problem::InviteOwner,
            E::Members(MemberProblem::AddressTaken(email)) => Problem::AddressTaken { email },
            E::Members(MemberProblem::SecondOwner) => Problem::SecondOwner,
            E::Members(MemberProblem::NoSuchMember) => Problem::NoSuchMember,
            E::Members(MemberProblem::NoSuchInvitation) => Problem::NoSuchInvitation,
            E::NotAllowed(role) => Problem::NotAllowed { role: role.into() },
            E::EmailNotVerified(email) => Problem::EmailNotVerified { email },
            E::InvalidLimits(err) => of_limits_error(err),
            E::InvalidPolicy(err) => of_policy_error(err),
            failure @ (E::Crypto(_) | E::Database(_)) => return Err(failure),
        })
    }

    fn of_egress_refusal(url: String, refusal: EgressRefusal) -> Problem {
        match refusal {
            EgressRefusal::PlainHttp => Problem::BaseUrlPlainHttp { url },
            EgressRefusal::Forbidden { host, addr, range } => Problem::BaseUrlForbidden {
                url,
                host: if host == addr.to_string() {
                    String::new()
                } else {
                    host
                },
                addr: addr.to_string(),
                range: range.into(),
            },
            EgressRefusal::Unresolvable { host, detail } => {
                Problem::BaseUrlUnresolvable { url, host, detail }
            }
        }
    }

    pub fn of_limits_error(err: LimitsError) -> Problem {
        match err {
            LimitsError::Json(detail) => Problem::Unreadable { detail },
            LimitsError::Budget => Problem::BudgetRange,
            LimitsError::Alert => Problem::AlertRange,
            LimitsError::Rate => Problem::RateRange,
        }
    }

    /// The providers there are, as a refusal lists them.
    fn provider_ids() -> String {
        gateway::providers::ProviderKind::ALL
            .iter()
            .map(|kind| kind.id())
            .collect::<Vec<_>>()
            .join(", ")
    }

    pub fn of_policy_error(err: PolicyError) -> Problem {
        match err {
            PolicyError::Json(detail) => Problem::Unreadable { detail },
            PolicyError::Threshold => Problem::PolicyThreshold,
            PolicyError::TierOrder => Problem::PolicyTierOrder,
            PolicyError::UnknownProvider(name) => Problem::PolicyUnknownProvider {
                name,
                expected: provider_ids(),
            },
            PolicyError::DuplicateProvider(name) => Problem::PolicyDuplicateProvider { name },
            PolicyError::NoProviders => Problem::PolicyNoProviders,
            PolicyError::EmptyForcedModel => Problem::PolicyEmptyForcedModel,
            PolicyError::EmptyRule(index) => Problem::PolicyEmptyRule { index },
            PolicyError::UnknownBaseline(model) => Problem::PolicyUnknownBaseline { model },
            PolicyError::QualityChecks => Problem::PolicyQualityChecks,
            PolicyError::UnknownCheck(name) => Problem::PolicyUnknownCheck { name },
        }
    }
}
