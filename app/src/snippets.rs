//! How to send a first request: this server's base URL and ready-to-paste snippets for the
//! clients people run (curl, the OpenAI SDKs, Anthropic's SDK, Claude Code, Codex), with the key
//! filled in when the page has it, each with a Copy button.

use leptos::prelude::*;

use crate::i18n::{t, use_i18n};

/// One client's snippet: its name and the text to paste.
fn snippets(root: &str, key: &str) -> Vec<(&'static str, String)> {
    let v1 = format!("{root}/v1");
    vec![
        (
            "curl",
            format!(
                "curl {v1}/chat/completions \\\n  -H \"Authorization: Bearer {key}\" \\\n  -H \"Content-Type: application/json\" \\\n  -d '{{\"model\": \"auto\", \"messages\": [{{\"role\": \"user\", \"content\": \"Hello\"}}]}}'"
            ),
        ),
        (
            "Python (openai)",
            format!(
                "from openai import OpenAI\n\nclient = OpenAI(base_url=\"{v1}\", api_key=\"{key}\")\nreply = client.chat.completions.create(\n    model=\"auto\", messages=[{{\"role\": \"user\", \"content\": \"Hello\"}}]\n)\nprint(reply.choices[0].message.content)"
            ),
        ),
        (
            "Node (openai)",
            format!(
                "import OpenAI from \"openai\";\n\nconst client = new OpenAI({{ baseURL: \"{v1}\", apiKey: \"{key}\" }});\nconst reply = await client.chat.completions.create({{\n  model: \"auto\",\n  messages: [{{ role: \"user\", content: \"Hello\" }}],\n}});\nconsole.log(reply.choices[0].message.content);"
            ),
        ),
        (
            "Python (anthropic)",
            format!(
                "import anthropic\n\nclient = anthropic.Anthropic(base_url=\"{root}\", api_key=\"{key}\")\nmessage = client.messages.create(\n    model=\"auto\", max_tokens=1024, messages=[{{\"role\": \"user\", \"content\": \"Hello\"}}]\n)\nprint(message.content[0].text)"
            ),
        ),
        (
            "Claude Code",
            format!(
                "export ANTHROPIC_BASE_URL=\"{root}\"\nexport ANTHROPIC_API_KEY=\"{key}\"\nclaude"
            ),
        ),
        (
            "Codex",
            format!(
                "# ~/.codex/config.toml\nmodel_provider = \"gateway\"\n\n[model_providers.gateway]\nname = \"LLM Gateway\"\nbase_url = \"{v1}\"\nenv_key = \"GATEWAY_API_KEY\"\nwire_api = \"responses\"\n\n# then, in the shell\nexport GATEWAY_API_KEY=\"{key}\"\ncodex"
            ),
        ),
    ]
}

/// The base URL and the snippets; `key` is the new key when the page has just shown it, else a
/// placeholder the reader replaces.
#[component]
pub fn Snippets(root: String, #[prop(optional)] key: Option<String>) -> impl IntoView {
    let i18n = use_i18n();
    let key = key.unwrap_or_else(|| "gw_…".to_owned());
    let v1 = format!("{root}/v1");
    view! {
        <section class="snippets" data-testid="snippets">
            <p>
                {t!(i18n, misc.base_url_is)} " "
                <code data-testid="base-url">{v1.clone()}</code>
                <CopyButton text=v1/>
            </p>
            {snippets(&root, &key)
                .into_iter()
                .enumerate()
                .map(|(index, (name, text))| view! {
                    <details open=index == 0>
                        <summary>{name}</summary>
                        <pre data-testid="snippet"><code>{text.clone()}</code></pre>
                        <CopyButton text/>
                    </details>
                })
                .collect_view()}
        </section>
    }
}

/// Copies `text` to the clipboard, and says so for a moment.
#[component]
fn CopyButton(text: String) -> impl IntoView {
    let i18n = use_i18n();
    let copied = RwSignal::new(false);
    let copy = move |_| {
        let clipboard = window().navigator().clipboard();
        let _ = clipboard.write_text(&text);
        copied.set(true);
        set_timeout(move || copied.set(false), std::time::Duration::from_secs(2));
    };
    view! {
        <button type="button" class="copy" on:click=copy>
            {move || if copied.get() { t!(i18n, misc.copied).into_any() } else { t!(i18n, misc.copy).into_any() }}
        </button>
    }
}
