//! Routing overrides, for the account or one key, and a preview of where a sample request goes.
//! The form covers the common settings; rules it cannot show (set through the CLI) are kept.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::error::{PortalError, action_error, error_view};
use crate::i18n::{t, t_string, use_i18n};
use crate::layout::PortalPage;
use gateway_types::Tier;

mod form;
#[cfg(feature = "ssr")]
mod ssr;

pub use form::{PreviewRow, RoutingForm, RoutingSettings, Scope, ThresholdMove};

#[server(prefix = "/api", endpoint = "load_routing")]
pub async fn load_routing(scope: String) -> Result<RoutingSettings, PortalError> {
    use crate::server::state;

    let account_id = crate::server::require(gateway::accounts::members::Action::Administer)
        .await?
        .account_id;
    let state = state()?;
    let target = ssr::target(&state.db, account_id, &scope).await?;
    let policies = gateway::accounts::routing_policies(&state.db, account_id).await?;
    let policy = ssr::policy_of(&policies, &target);
    let mut scopes = vec![Scope {
        value: "account".into(),
        label: String::new(),
    }];
    for key in gateway::accounts::list_gateway_keys(&state.db, account_id).await? {
        if key.revoked_at.is_none() {
            scopes.push(Scope {
                value: format!("key:{}", key.id),
                label: format!("{} ({}…)", key.name, key.prefix),
            });
        }
    }
    let pretty = |policy: &gateway::routing::RoutingPolicy| {
        serde_json::to_string_pretty(policy).unwrap_or_default()
    };
    let key_id = match target {
        ssr::Target::Account => None,
        ssr::Target::Key(id) => Some(id),
    };
    let (baseline, baseline_is_default) =
        crate::server::baseline_of(&state, account_id, key_id).await?;
    let threshold_moves = gateway::quality::calibration::history(&state.db, account_id, 10)
        .await?
        .into_iter()
        .map(|change| ThresholdMove {
            at: gateway_types::time::format_utc(change.changed_at)[..16].replace('T', " "),
            from: change.old_threshold,
            to: change.new_threshold,
            adequacy: change.adequacy * 100.0,
            judged: change.judged,
            cheap: change.cheap_share * 100.0,
            target: change.target * 100.0,
        })
        .collect();
    let baseline_choices = gateway::catalog::Catalog::built_in()
        .models
        .iter()
        .filter(|model| model.kind == gateway::catalog::ModelKind::Chat)
        .map(|model| model.name())
        .collect();
    Ok(RoutingSettings {
        scope: match target {
            ssr::Target::Account => "account".into(),
            ssr::Target::Key(id) => format!("key:{id}"),
        },
        scopes,
        form: ssr::form_of(&policy),
        json: pretty(&policy),
        effective_json: match target {
            ssr::Target::Account => None,
            ssr::Target::Key(id) => Some(pretty(&policies.effective(id))),
        },
        baseline,
        baseline_is_default,
        baseline_choices,
        threshold_moves,
    })
}

/// Saves the form of `scope` (the page's fields, named as [`RoutingForm`]'s).
#[server(prefix = "/api", endpoint = "save_routing")]
pub async fn save_routing(
    scope: String,
    #[server(flatten)] form: RoutingForm,
) -> Result<(), PortalError> {
    use crate::server::state;

    let account_id = crate::server::require(gateway::accounts::members::Action::Administer)
        .await?
        .account_id;
    let state = state()?;
    let target = ssr::target(&state.db, account_id, &scope).await?;
    let policies = gateway::accounts::routing_policies(&state.db, account_id).await?;
    let policy = ssr::policy_of_form(&form, &ssr::policy_of(&policies, &target))?;
    let account = state.directory.account(account_id).await.map_err(|err| {
        tracing::error!(error = %err, "could not load the account to check a routing policy");
        PortalError::Internal
    })?;
    let effective = match target {
        ssr::Target::Account => policy.clone(),
        ssr::Target::Key(_) => {
            gateway::routing::RoutingPolicy::merged(&policies.account, Some(&policy))
        }
    };
    ssr::check_serves(&state.router, &account.providers, &effective)?;
    match target {
        ssr::Target::Account => {
            state
                .set_account_routing_policy(account_id, &policy)
                .await?
        }
        ssr::Target::Key(id) => {
            state
                .set_key_routing_policy(account_id, id, &policy)
                .await?
        }
    }
    Ok(())
}

/// Where `sample` (a prompt, or a whole chat request as JSON) would be routed under the scope's
/// policy, with the account's providers. Nothing is sent to a provider.
#[server(prefix = "/api", endpoint = "preview_route")]
pub async fn preview_route(scope: String, sample: String) -> Result<PreviewRow, PortalError> {
    use crate::server::state;
    use gateway::openai::ChatCompletionRequest;

    let account_id = crate::server::require(gateway::accounts::members::Action::Administer)
        .await?
        .account_id;
    let state = state()?;
    let target = ssr::target(&state.db, account_id, &scope).await?;
    let account = state.directory.account(account_id).await.map_err(|err| {
        tracing::error!(error = %err, "could not load the account for a routing preview");
        PortalError::Internal
    })?;
    let policy = match target {
        ssr::Target::Account => account.routing.account.clone(),
        ssr::Target::Key(id) => account.routing.effective(id),
    };
    let sample = sample.trim();
    if sample.is_empty() {
        return Err(PortalError::Refused(crate::error::Problem::SampleMissing));
    }
    let body = if sample.starts_with('{') {
        sample.to_owned()
    } else {
        serde_json::json!({"model": "auto", "messages": [{"role": "user", "content": sample}]})
            .to_string()
    };
    let invalid = |err: gateway::error::RequestError| {
        PortalError::Refused(crate::error::Problem::BadSample {
            detail: err.to_string(),
        })
    };
    let mut request = ChatCompletionRequest::from_json_bytes(body.as_bytes()).map_err(invalid)?;
    let fallbacks = gateway::proxy::take_fallbacks(&mut request).map_err(invalid)?;
    let preview = gateway::routing::preview(
        &state.router,
        &request,
        &fallbacks,
        &account.providers,
        &policy,
    )
    .map_err(invalid)?;
    Ok(PreviewRow {
        model: preview.model,
        tier: preview
            .tier
            .map(|tier| tier.id().to_owned())
            .unwrap_or_else(|| "unknown".into()),
        reason: preview.reason,
        score: preview.score,
        fallbacks: preview.fallbacks,
    })
}

/// A tier's name in the reader's language (`cheap`, `standard`, `strong`; else as given).
pub fn tier_name(tier: String) -> AnyView {
    let i18n = use_i18n();
    match tier.as_str() {
        "cheap" => t!(i18n, routing.tier_cheap).into_any(),
        "standard" => t!(i18n, routing.tier_standard).into_any(),
        "strong" => t!(i18n, routing.tier_strong).into_any(),
        "unknown" => t!(i18n, routing.tier_unknown).into_any(),
        _ => tier.into_any(),
    }
}

fn tier_select(
    name: &'static str,
    current: String,
    none_label: AnyView,
    tiers: &'static [Tier],
) -> impl IntoView {
    view! {
        <select name=name id=name>
            <option value="" selected=current.is_empty()>{none_label}</option>
            {tiers.iter().map(|tier| view! { <option value=tier.id() selected=current == tier.id()>{tier_name(tier.id().to_owned())}</option> }).collect_view()}
        </select>
    }
}

const ALL_TIERS: &[Tier] = &Tier::ALL;
/// A rule only ever lifts a request: to the cheap tier would be no rule.
const FLOOR_TIERS: &[Tier] = &[Tier::Standard, Tier::Strong];

#[component]
pub fn RoutingPage() -> impl IntoView {
    let query = use_query_map();
    let scope = move || query.with(|q| q.get("scope").unwrap_or_else(|| "account".into()));
    let save = ServerAction::<SaveRouting>::new();
    let preview = ServerAction::<PreviewRoute>::new();
    let settings = Resource::new(
        move || (scope(), save.version().get()),
        |(scope, _)| load_routing(scope),
    );
    let i18n = use_i18n();
    view! {
        <PortalPage title=move || t_string!(i18n, nav_routing)>
            <p class="muted">
                {t!(i18n, routing.intro_start)} <code>"auto"</code> {t!(i18n, routing.intro_end)}
            </p>
            <Transition fallback=move || view! { <p>{t!(i18n, loading)}</p> }>
                {move || Suspend::new(async move {
                    match settings.await {
                        Ok(settings) => routing_form(settings, save, preview).into_any(),
                        Err(err) => error_view(err),
                    }
                })}
            </Transition>
        </PortalPage>
    }
}

fn routing_form(
    settings: RoutingSettings,
    save: ServerAction<SaveRouting>,
    preview: ServerAction<PreviewRoute>,
) -> impl IntoView {
    let RoutingSettings {
        scope,
        scopes,
        form,
        json,
        effective_json,
        baseline,
        baseline_is_default,
        baseline_choices,
        threshold_moves,
    } = settings;
    let i18n = use_i18n();
    let is_key = scope != "account";
    let current_scope = scope.clone();
    let save_scope = scope.clone();
    let preview_scope = scope;
    // What an empty choice means: for a key, the account's setting; for the account, nothing.
    let inherit = move || {
        if is_key {
            t!(i18n, routing.accounts_setting).into_any()
        } else {
            t!(i18n, routing.none).into_any()
        }
    };
    let no_rule = move || t!(i18n, routing.no_rule).into_any();
    view! {
        <nav class="scopes" aria-label=move || t_string!(i18n, routing.scope)>
            {scopes.into_iter().map(|s| {
                let current = s.value == current_scope;
                let label = if s.value == "account" {
                    t!(i18n, routing.scope_account).into_any()
                } else {
                    t!(i18n, routing.scope_key, name = s.label.clone()).into_any()
                };
                view! { <a href=format!("/routing?scope={}", s.value) class:current=current aria-current=current.then_some("page")>{label}</a> }
            }).collect_view()}
        </nav>
        <ActionForm action=save attr:class="stacked-form" attr:data-testid="routing-form">
            <input type="hidden" name="scope" value=save_scope/>
            <label for="auto_routing">{t!(i18n, routing.auto_routing)}</label>
            <select name="auto_routing" id="auto_routing">
                <option value="" selected=form.auto_routing.is_empty()>{if is_key { t!(i18n, routing.accounts_setting).into_any() } else { t!(i18n, routing.on_default).into_any() }}</option>
                <option value="on" selected=form.auto_routing == "on">{t!(i18n, routing.on)}</option>
                <option value="off" selected=form.auto_routing == "off">{t!(i18n, routing.off_auto)}</option>
            </select>
            <label for="forced_model">{t!(i18n, routing.forced_model)}</label>
            <input name="forced_model" id="forced_model" value=form.forced_model placeholder=move || t_string!(i18n, routing.forced_model_placeholder)/>
            <label for="threshold">{t!(i18n, routing.threshold)}</label>
            <input name="threshold" id="threshold" value=form.threshold inputmode="decimal" placeholder=move || t_string!(i18n, routing.threshold_placeholder)/>
            <label for="min_tier">{t!(i18n, routing.min_tier)}</label>
            {tier_select("min_tier", form.min_tier, inherit(), ALL_TIERS)}
            <label for="max_tier">{t!(i18n, routing.max_tier)}</label>
            {tier_select("max_tier", form.max_tier, inherit(), ALL_TIERS)}
            <label for="providers">{t!(i18n, routing.providers)}</label>
            <input name="providers" id="providers" value=form.providers placeholder=move || t_string!(i18n, routing.providers_placeholder)/>
            <fieldset>
                <legend>{t!(i18n, routing.rules)}</legend>
                <label for="rule_tools">{t!(i18n, routing.rule_tools)}</label>
                {tier_select("rule_tools", form.rule_tools, no_rule(), FLOOR_TIERS)}
                <label for="rule_images">{t!(i18n, routing.rule_images)}</label>
                {tier_select("rule_images", form.rule_images, no_rule(), FLOOR_TIERS)}
                <label for="rule_json">{t!(i18n, routing.rule_json)}</label>
                {tier_select("rule_json", form.rule_json, no_rule(), FLOOR_TIERS)}
                <label for="long_prompt_tokens">{t!(i18n, routing.long_prompt_tokens)}</label>
                <input name="long_prompt_tokens" id="long_prompt_tokens" value=form.long_prompt_tokens inputmode="numeric" placeholder=move || t_string!(i18n, routing.long_prompt_placeholder)/>
                <label for="rule_long_prompt">{t!(i18n, routing.long_prompt_tier)}</label>
                {tier_select("rule_long_prompt", form.rule_long_prompt, no_rule(), FLOOR_TIERS)}
            </fieldset>
            <label for="baseline_model">{t!(i18n, routing.baseline_model)}</label>
            <input name="baseline_model" id="baseline_model" list="baseline-choices" value=form.baseline_model placeholder=move || t_string!(i18n, routing.baseline_placeholder)/>
            <datalist id="baseline-choices">
                {baseline_choices.into_iter().map(|choice| view! { <option value=choice></option> }).collect_view()}
            </datalist>
            <p class="muted" data-testid="baseline-in-force">
                {match baseline {
                    Some(model) if baseline_is_default => t!(i18n, routing.baseline_default, model = model).into_any(),
                    Some(model) => t!(i18n, routing.baseline_chosen, model = model).into_any(),
                    None => t!(i18n, routing.baseline_none).into_any(),
                }}
            </p>
            <fieldset data-testid="quality-checks">
                <legend>{t!(i18n, routing.quality_checks)}</legend>
                <p class="muted">{t!(i18n, routing.quality_checks_intro)}</p>
                <label for="quality_percent">{t!(i18n, routing.quality_percent)}</label>
                <input name="quality_percent" id="quality_percent" value=form.quality_percent inputmode="decimal" placeholder=move || t_string!(i18n, routing.quality_percent_placeholder)/>
                <label for="quality_budget">{t!(i18n, routing.quality_budget)}</label>
                <input name="quality_budget" id="quality_budget" value=form.quality_budget inputmode="decimal" placeholder="5"/>
                <label for="quality_target">{t!(i18n, routing.quality_target)}</label>
                <input name="quality_target" id="quality_target" value=form.quality_target inputmode="decimal" placeholder=move || t_string!(i18n, routing.quality_target_placeholder)/>
                <label for="quality_judge">{t!(i18n, routing.quality_judge)}</label>
                <input name="quality_judge" id="quality_judge" list="baseline-choices" value=form.quality_judge placeholder=move || t_string!(i18n, routing.quality_judge_placeholder)/>
            </fieldset>
            <label for="cache">{t!(i18n, routing.cache)}</label>
            <select name="cache" id="cache">
                <option value="" selected=form.cache.is_empty()>{if is_key { t!(i18n, routing.accounts_setting).into_any() } else { t!(i18n, routing.off_default).into_any() }}</option>
                <option value="on" selected=form.cache == "on">{t!(i18n, routing.on)}</option>
                <option value="off" selected=form.cache == "off">{t!(i18n, routing.off)}</option>
            </select>
            <label for="verify">{t!(i18n, routing.verify)}</label>
            <select name="verify" id="verify">
                <option value="" selected=form.verify.is_empty()>{if is_key { t!(i18n, routing.accounts_setting).into_any() } else { t!(i18n, routing.off_default).into_any() }}</option>
                <option value="on" selected=form.verify == "on">{t!(i18n, routing.verify_on)}</option>
                <option value="streams" selected=form.verify == "streams">{t!(i18n, routing.verify_streams)}</option>
                <option value="off" selected=form.verify == "off">{t!(i18n, routing.off)}</option>
            </select>
            <button type="submit">{t!(i18n, routing.save)}</button>
        </ActionForm>
        {move || save.value().get().map(|result| match result {
            Ok(()) => view! { <p class="notice" role="status">{t!(i18n, routing.saved)}</p> }.into_any(),
            Err(err) => error_view(err),
        })}
        {(!threshold_moves.is_empty()).then(|| view! {
            <table class="list compact" data-testid="threshold-moves">
                <caption>{t!(i18n, routing.moves_title)}</caption>
                <thead><tr><th>{t!(i18n, routing.moves_when)}</th><th class="num">{t!(i18n, routing.moves_threshold)}</th><th>{t!(i18n, routing.moves_why)}</th></tr></thead>
                <tbody>
                    {threshold_moves.into_iter().map(|row| view! {
                        <tr>
                            <td>{row.at.clone()}</td>
                            <td class="num">{format!("{:.3} → {:.3}", row.from, row.to)}</td>
                            <td>{t!(i18n, routing.moves_reason, adequacy = format!("{:.1}", row.adequacy), judged = row.judged, cheap = format!("{:.0}", row.cheap), target = format!("{:.1}", row.target))}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        })}
        <details>
            <summary>{t!(i18n, routing.as_json)} <code>"llm-gateway routing set"</code> ")"</summary>
            <pre data-testid="policy-json">{json}</pre>
            {effective_json.map(|json| view! { <p>{t!(i18n, routing.with_account)}</p><pre>{json}</pre> })}
        </details>
        <h2>{t!(i18n, routing.try_title)}</h2>
        <ActionForm action=preview attr:class="stacked-form">
            <input type="hidden" name="scope" value=preview_scope/>
            <label for="sample">{t!(i18n, routing.sample)}</label>
            <textarea name="sample" id="sample" rows="4" placeholder=move || t_string!(i18n, routing.sample_placeholder)></textarea>
            <button type="submit">{t!(i18n, routing.preview)}</button>
        </ActionForm>
        {action_error(preview.value())}
        {move || preview.value().get().and_then(Result::ok).map(|row| view! {
            <dl class="preview" data-testid="route-preview">
                <dt>{t!(i18n, routing.model)}</dt><dd data-testid="preview-model">{row.model}</dd>
                <dt>{t!(i18n, routing.tier)}</dt><dd data-testid="preview-tier" data-tier=row.tier.clone()>{tier_name(row.tier.clone())}</dd>
                <dt>{t!(i18n, routing.why)}</dt><dd>{row.reason}</dd>
                {row.score.map(|score| view! { <dt>{t!(i18n, routing.score)}</dt><dd>{format!("{score:.3}")}</dd> })}
                {(!row.fallbacks.is_empty()).then(|| view! { <dt>{t!(i18n, routing.then)}</dt><dd>{row.fallbacks.join(", ")}</dd> })}
            </dl>
        })}
    }
}
