//! The organisation's members: invite by e-mail with a role, change roles, remove (which revokes
//! the keys the member made); and the page an invited person accepts on.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::confirm::confirm_first;
use crate::error::{PortalError, action_error, error_view};
use crate::i18n::{t, t_string, use_i18n};
use crate::language::LanguageSwitch;
use crate::layout::PortalPage;
use crate::list::ListTable;
use crate::problem::role_name;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberRow {
    pub id: i32,
    pub email: String,
    pub role: String,
}

/// An invitation sent and not yet accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingRow {
    pub id: i32,
    pub email: String,
    pub role: String,
    pub expires_at: i64,
}

/// What an invitation link offers, shown before it is accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvitationView {
    pub email: String,
    pub role: String,
    pub organisation: String,
}

#[cfg(feature = "ssr")]
mod ssr {
    use gateway::accounts::members::Role;

    use crate::error::PortalError;

    pub fn role(value: &str) -> Result<Role, PortalError> {
        Role::parse(value)
            .filter(|role| *role != Role::Owner)
            .ok_or(PortalError::Refused(crate::problem::Problem::ChooseRole))
    }
}

#[server(prefix = "/api", endpoint = "list_members")]
pub async fn list_members() -> Result<Vec<MemberRow>, PortalError> {
    use gateway::accounts::members::{self, Action};
    let actor = crate::server::require(Action::Administer).await?;
    let state = crate::server::state()?;
    let owner = gateway::accounts::account_by_id(&state.db, actor.account_id).await?;
    let mut rows: Vec<MemberRow> = owner
        .map(|owner| MemberRow {
            id: 0,
            email: owner.email,
            role: "owner".into(),
        })
        .into_iter()
        .collect();
    rows.extend(
        members::list_members(&state.db, actor.account_id)
            .await?
            .into_iter()
            .map(|member| MemberRow {
                id: member.id,
                email: member.email,
                role: member.role,
            }),
    );
    Ok(rows)
}

#[server(prefix = "/api", endpoint = "invite_member")]
pub async fn invite_member(email: String, role: String) -> Result<String, PortalError> {
    use gateway::accounts::members::{self, Action};
    use gateway::mail::messages;
    let actor = crate::server::require(Action::Administer).await?;
    let state = crate::server::state()?;
    let role = ssr::role(&role)?;
    state
        .abuse
        .admit_invitation(actor.account_id)
        .map_err(|throttled| {
            crate::server::too_many(crate::problem::Problem::TooManyInvitations {
                minutes: throttled.retry_after_secs().div_ceil(60),
            })
        })?;
    let invited = members::invite(&state.db, actor.account_id, &email, role).await?;
    let inviter = gateway::accounts::account_by_id(&state.db, actor.account_id)
        .await?
        .map(|owner| owner.email)
        .unwrap_or_default();
    let lang = crate::email::ssr::visitor_lang().await;
    let link = crate::email::ssr::link(&state, "/invite", &invited.token);
    let mail = messages::invitation(lang, &inviter, role.id(), &link);
    state.mailer.send_later(invited.email.clone(), mail);
    // The address invited; the page words the confirmation.
    Ok(invited.email)
}

#[server(prefix = "/api", endpoint = "pending_invitations")]
pub async fn pending_invitations() -> Result<Vec<PendingRow>, PortalError> {
    use gateway::accounts::members::{self, Action};
    let actor = crate::server::require(Action::Administer).await?;
    let state = crate::server::state()?;
    Ok(members::pending_invitations(&state.db, actor.account_id)
        .await?
        .into_iter()
        .map(|pending| PendingRow {
            id: pending.id,
            email: pending.email,
            role: pending.role.id().to_owned(),
            expires_at: pending.expires_at,
        })
        .collect())
}

#[server(prefix = "/api", endpoint = "withdraw_invitation")]
pub async fn withdraw_invitation(id: i32) -> Result<(), PortalError> {
    use gateway::accounts::members::{self, Action};
    let actor = crate::server::require(Action::Administer).await?;
    let state = crate::server::state()?;
    members::withdraw_invitation(&state.db, actor.account_id, id).await?;
    Ok(())
}

#[server(prefix = "/api", endpoint = "set_member_role")]
pub async fn set_member_role(id: i32, role: String) -> Result<(), PortalError> {
    use gateway::accounts::members::{self, Action};
    let actor = crate::server::require(Action::Administer).await?;
    let state = crate::server::state()?;
    members::set_role(&state.db, actor.account_id, id, ssr::role(&role)?).await?;
    Ok(())
}

#[server(prefix = "/api", endpoint = "remove_member")]
pub async fn remove_member(id: i32) -> Result<(), PortalError> {
    use gateway::accounts::members::Action;
    let actor = crate::server::require(Action::Administer).await?;
    let state = crate::server::state()?;
    state.remove_member(actor.account_id, id).await?;
    Ok(())
}

#[server(prefix = "/api", endpoint = "invitation_details")]
pub async fn invitation_details(token: String) -> Result<InvitationView, PortalError> {
    let state = crate::server::state()?;
    let (account_id, invitation) =
        gateway::accounts::members::invitation(&state.db, &token).await?;
    let organisation = gateway::accounts::account_by_id(&state.db, account_id)
        .await?
        .map(|owner| owner.email)
        .unwrap_or_default();
    Ok(InvitationView {
        email: invitation.email,
        role: invitation.role.id().to_owned(),
        organisation,
    })
}

#[server(prefix = "/api", endpoint = "accept_invitation")]
pub async fn accept_invitation(token: String, password: String) -> Result<(), PortalError> {
    let state = crate::server::state()?;
    crate::server::admit_sign_up(&state).await?;
    let lang = crate::email::ssr::visitor_lang().await;
    let member =
        gateway::accounts::members::accept_invitation(&state.db, &token, &password, lang).await?;
    crate::server::log_in_as(member.account_id, Some(member.id)).await?;
    leptos_axum::redirect("/");
    Ok(())
}

#[component]
pub fn MembersPage() -> impl IntoView {
    let invite = ServerAction::<InviteMember>::new();
    let set_role = ServerAction::<SetMemberRole>::new();
    let remove = ServerAction::<RemoveMember>::new();
    let withdraw = ServerAction::<WithdrawInvitation>::new();
    let pending = Resource::new(
        move || (invite.version().get(), withdraw.version().get()),
        |_| pending_invitations(),
    );
    let members = Resource::new(
        move || {
            (
                invite.version().get(),
                set_role.version().get(),
                remove.version().get(),
            )
        },
        |_| list_members(),
    );
    let i18n = use_i18n();
    view! {
        <PortalPage title=move || t_string!(i18n, members_title)>
            <p class="muted">{t!(i18n, members_intro)}</p>
            <ActionForm action=invite attr:class="inline-form" attr:data-testid="invite-form">
                <input type="email" name="email" placeholder="colleague@example.com" aria-label=move || t_string!(i18n, email_to_invite) required/>
                <select name="role" aria-label=move || t_string!(i18n, role)>
                    <option value="member">{t!(i18n, misc.role_member)}</option>
                    <option value="admin">{t!(i18n, misc.role_admin)}</option>
                    <option value="viewer">{t!(i18n, misc.role_viewer)}</option>
                </select>
                <button type="submit">{t!(i18n, invite)}</button>
            </ActionForm>
            {move || invite.value().get().and_then(Result::ok).map(|email| view! {
                <p role="status" data-testid="invited">{t!(i18n, misc.invitation_sent, email = email.clone())}</p>
            })}
            {action_error(invite.value())}
            {action_error(set_role.value())}
            {action_error(remove.value())}
            {action_error(withdraw.value())}
            <ListTable
                rows=members
                head=move || view! { <th>{t!(i18n, col_email)}</th><th>{t!(i18n, col_role)}</th><th></th> }
                row=move |row: MemberRow| {
                    let owner = row.role == "owner";
                    let email = row.email.clone();
                    let ask = move || format!("“{}” — {}", email, t_string!(i18n, misc.confirm_remove_member));
                    view! {
                        <tr data-testid="member-row">
                            <td>{row.email.clone()}</td>
                            <td>{if owner {
                                role_name(row.role.clone()).into_any()
                            } else {
                                role_form(set_role, row.id, row.role.clone()).into_any()
                            }}</td>
                            <td>
                                {(!owner).then(|| view! {
                                    <ActionForm action=remove>
                                        <input type="hidden" name="id" value=row.id/>
                                        <button type="submit" class="danger" on:click=confirm_first(ask.clone())>{t!(i18n, remove)}</button>
                                    </ActionForm>
                                })}
                            </td>
                        </tr>
                    }
                }
            />
            // Shown to those who manage members (to others, the list above already says no).
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    members.await.ok().map(|_| view! { <PendingInvitations pending withdraw/> })
                })}
            </Transition>
        </PortalPage>
    }
}

/// The invitations waiting to be accepted, each with *Withdraw*.
#[component]
fn PendingInvitations(
    pending: Resource<Result<Vec<PendingRow>, PortalError>>,
    withdraw: ServerAction<WithdrawInvitation>,
) -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <h2>{t!(i18n, misc.pending_invitations)}</h2>
        <ListTable
            rows=pending
            empty=move || view! { <p class="empty" data-testid="no-pending">{t!(i18n, misc.no_pending)}</p> }
            head=move || view! { <th>{t!(i18n, col_email)}</th><th>{t!(i18n, col_role)}</th><th>{t!(i18n, misc.col_expires)}</th><th></th> }
            row=move |row: PendingRow| {
                let email = row.email.clone();
                let ask = move || format!("“{}” — {}", email, t_string!(i18n, misc.confirm_withdraw));
                view! {
                    <tr data-testid="pending-row">
                        <td>{row.email.clone()}</td>
                        <td>{role_name(row.role.clone())}</td>
                        <td>{gateway_types::time::format_utc(row.expires_at)}</td>
                        <td>
                            <ActionForm action=withdraw>
                                <input type="hidden" name="id" value=row.id/>
                                <button type="submit" class="danger" on:click=confirm_first(ask)>{t!(i18n, misc.withdraw)}</button>
                            </ActionForm>
                        </td>
                    </tr>
                }
            }
        />
    }
}

/// A member's role as a choice saved on its own (admin, member, viewer; the owner stays owner).
fn role_form(action: ServerAction<SetMemberRole>, id: i32, current: String) -> impl IntoView {
    let i18n = use_i18n();
    let option = move |value: &'static str, label: AnyView| {
        view! { <option value=value selected=current == value>{label}</option> }
    };
    view! {
        <ActionForm action=action attr:class="inline-form role-form">
            <input type="hidden" name="id" value=id/>
            <select name="role" aria-label=move || t_string!(i18n, misc.change_role)>
                {option("admin", t!(i18n, misc.role_admin).into_any())}
                {option("member", t!(i18n, misc.role_member).into_any())}
                {option("viewer", t!(i18n, misc.role_viewer).into_any())}
            </select>
            <button type="submit">{t!(i18n, misc.save_role)}</button>
        </ActionForm>
    }
}

#[component]
pub fn InvitePage() -> impl IntoView {
    let accept = ServerAction::<AcceptInvitation>::new();
    let token = leptos_router::hooks::use_query_map()
        .with_untracked(|query| query.get("token").unwrap_or_default());
    let details = Resource::new(
        {
            let token = token.clone();
            move || token.clone()
        },
        invitation_details,
    );
    let i18n = use_i18n();
    view! {
        <main class="auth">
            <LanguageSwitch/>
            <h1>{t!(i18n, invite_title)}</h1>
            <Transition fallback=move || view! { <p>{t!(i18n, loading)}</p> }>
                {move || Suspend::new(async move {
                    match details.await {
                        Ok(invitation) => {
                            let role = invitation.role.clone();
                            view! {
                                <p data-testid="invitation">
                                    {t!(i18n, misc.invited_as, organisation = invitation.organisation.clone(), email = invitation.email.clone(), role = move || role_name(role.clone()))}
                                </p>
                            }
                            .into_any()
                        }
                        Err(err) => error_view(err),
                    }
                })}
            </Transition>
            <ActionForm action=accept>
                <input type="hidden" name="token" value=token/>
                <label>
                    {t!(i18n, choose_password)}
                    <input type="password" name="password" required autocomplete="new-password"/>
                    <small>{t!(i18n, password_hint)}</small>
                </label>
                <button type="submit">{t!(i18n, accept_invitation)}</button>
            </ActionForm>
            {action_error(accept.value())}
        </main>
    }
}
