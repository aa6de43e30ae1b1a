//! The providers as data: one [`ProviderSpec`] row per [`ProviderKind`]. The configuration, the
//! CLI, the portal's list, routing and the conformance suite read their facts from here, so a
//! provider's name, URL, key rule and capabilities are written once.

use std::fmt;

/// Providers a user can bring a key for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProviderKind {
    OpenAi,
    Anthropic,
    Gemini,
    Groq,
    Ollama,
}

/// Which wire protocol a provider speaks, and so which converter serves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireApi {
    /// OpenAI's chat completions: forwarded as they came, answers byte for byte.
    OpenAi,
    /// Anthropic's Messages API, converted both ways.
    AnthropicMessages,
    /// Gemini's `generateContent`, converted both ways.
    GeminiGenerateContent,
}

#[derive(Debug)]
pub struct ProviderSpec {
    pub kind: ProviderKind,
    /// The identifier used in the database, the CLI and `provider/model` names.
    pub id: &'static str,
    pub display_name: &'static str,
    /// The base URL as the provider's own SDK names it.
    pub default_base_url: &'static str,
    /// The environment variable (and, lower-cased, the config file key) that moves it.
    pub base_url_env: &'static str,
    /// The OpenAI-compatible API lives under `/v1` of the base URL, which names the server
    /// (Ollama's convention) rather than the API.
    pub api_under_v1: bool,
    pub requires_api_key: bool,
    pub wire_api: WireApi,
    pub embeddings: bool,
    /// The model for a request that names none before routing weighs it.
    pub default_model: &'static str,
    /// Bare model names (no `provider/`) that unmistakably belong to this provider. Names that
    /// several providers serve (Llama on Groq and Ollama) need the catalog or a prefix.
    pub bare_model_prefixes: &'static [&'static str],
}

/// In the order of [`ProviderKind`]'s variants (a test checks).
pub const PROVIDERS: &[ProviderSpec] = &[
    ProviderSpec {
        kind: ProviderKind::OpenAi,
        id: "openai",
        display_name: "OpenAI",
        default_base_url: "https://api.openai.com/v1",
        base_url_env: "OPENAI_BASE_URL",
        api_under_v1: false,
        requires_api_key: true,
        wire_api: WireApi::OpenAi,
        embeddings: true,
        default_model: "gpt-4o-mini",
        bare_model_prefixes: &[
            "gpt-",
            "o1",
            "o3",
            "o4",
            "chatgpt-",
            "ft:",
            "text-embedding-",
        ],
    },
    ProviderSpec {
        kind: ProviderKind::Anthropic,
        id: "anthropic",
        display_name: "Anthropic",
        default_base_url: "https://api.anthropic.com",
        base_url_env: "ANTHROPIC_BASE_URL",
        api_under_v1: false,
        requires_api_key: true,
        wire_api: WireApi::AnthropicMessages,
        embeddings: false,
        default_model: "claude-3-5-haiku-latest",
        bare_model_prefixes: &["claude-"],
    },
    ProviderSpec {
        kind: ProviderKind::Gemini,
        id: "gemini",
        display_name: "Google Gemini",
        default_base_url: "https://generativelanguage.googleapis.com",
        base_url_env: "GEMINI_BASE_URL",
        api_under_v1: false,
        requires_api_key: true,
        wire_api: WireApi::GeminiGenerateContent,
        embeddings: true,
        default_model: "gemini-2.0-flash",
        bare_model_prefixes: &["gemini-", "gemma-", "text-embedding-004", "embedding-"],
    },
    ProviderSpec {
        kind: ProviderKind::Groq,
        id: "groq",
        display_name: "Groq",
        default_base_url: "https://api.groq.com/openai/v1",
        base_url_env: "GROQ_BASE_URL",
        api_under_v1: false,
        requires_api_key: true,
        wire_api: WireApi::OpenAi,
        embeddings: false,
        default_model: "llama-3.1-8b-instant",
        bare_model_prefixes: &[],
    },
    ProviderSpec {
        kind: ProviderKind::Ollama,
        id: "ollama",
        display_name: "Ollama",
        default_base_url: "http://127.0.0.1:11434",
        base_url_env: "OLLAMA_BASE_URL",
        api_under_v1: true,
        // Ollama runs locally and usually has no key; one is sent when configured.
        requires_api_key: false,
        wire_api: WireApi::OpenAi,
        embeddings: true,
        default_model: "llama3.2",
        bare_model_prefixes: &[],
    },
];

impl ProviderKind {
    pub const ALL: &'static [ProviderKind] = &[
        ProviderKind::OpenAi,
        ProviderKind::Anthropic,
        ProviderKind::Gemini,
        ProviderKind::Groq,
        ProviderKind::Ollama,
    ];

    pub fn spec(self) -> &'static ProviderSpec {
        &PROVIDERS[self as usize]
    }

    pub fn id(self) -> &'static str {
        self.spec().id
    }

    pub fn display_name(self) -> &'static str {
        self.spec().display_name
    }

    pub fn parse(id: &str) -> Option<Self> {
        PROVIDERS
            .iter()
            .find(|spec| spec.id == id)
            .map(|spec| spec.kind)
    }

    pub fn default_base_url(self) -> &'static str {
        self.spec().default_base_url
    }

    pub fn requires_api_key(self) -> bool {
        self.spec().requires_api_key
    }

    pub fn default_model(self) -> &'static str {
        self.spec().default_model
    }

    pub fn owns_bare_model(self, model: &str) -> bool {
        self.spec()
            .bare_model_prefixes
            .iter()
            .any(|prefix| model.starts_with(prefix))
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_has_one_row_per_kind_in_order() {
        assert_eq!(PROVIDERS.len(), ProviderKind::ALL.len());
        for (index, kind) in ProviderKind::ALL.iter().enumerate() {
            assert_eq!(*kind as usize, index);
            assert_eq!(PROVIDERS[index].kind, *kind);
            assert_eq!(ProviderKind::parse(kind.id()), Some(*kind));
            assert_eq!(
                kind.spec().base_url_env,
                format!("{}_BASE_URL", kind.id().to_ascii_uppercase())
            );
        }
        assert_eq!(ProviderKind::parse("mistral"), None);
    }
}
