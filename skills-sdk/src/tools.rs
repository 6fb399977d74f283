//! The tool registry: typed Rust functions in, `describe`/`invoke` out.

use std::borrow::Cow;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::ToolError;

type Handler = Box<dyn Fn(&str, &str) -> Result<String, ToolError>>;

/// The tools a skill offers, built with [`Tools::new`] and [`Tools::tool`].
///
/// Each tool is a plain function `fn(Args) -> Result<R, ToolError>`: `Args` is
/// deserialized from the JSON arguments the model sent (its JSON Schema, derived with
/// [`JsonSchema`], is what the model sees), `R` is serialized to the JSON result.
///
/// `Tools` is also how to test a skill natively, without the host:
///
/// ```
/// use chitin_sdk::{JsonSchema, ToolError, Tools};
/// use serde::Deserialize;
///
/// #[derive(Deserialize, JsonSchema)]
/// struct Add { a: i64, b: i64 }
///
/// let tools = Tools::new().tool("add", "Add two integers", |x: Add| {
///     x.a.checked_add(x.b).ok_or_else(|| ToolError::invalid_input("overflow"))
/// });
/// assert_eq!(tools.invoke("add", r#"{"a": 2, "b": 3}"#).unwrap(), "5");
/// assert!(matches!(tools.invoke("add", "{}"), Err(ToolError::InvalidInput(_))));
/// ```
#[derive(Default)]
pub struct Tools {
    tools: Vec<Tool>,
}

struct Tool {
    name: Cow<'static, str>,
    description: Cow<'static, str>,
    /// Computed only by `describe` (never on the `invoke` path).
    schema: fn() -> String,
    handler: Handler,
}

/// One tool as `describe` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolInfo {
    /// Unique within the skill: lowercase letters, digits, `-` and `_`.
    pub name: String,
    /// Shown to the model and to the user at install time.
    pub description: String,
    /// JSON Schema (JSON text) of the arguments object.
    pub input_schema: String,
}

/// Arguments of a tool that takes none: accepts any JSON object (and `null` or an
/// empty string, which the dispatcher reads as `{}`).
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, JsonSchema)]
pub struct NoArgs {}

impl Tools {
    /// An empty set of tools.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a tool.
    ///
    /// `name` must be unique within the skill and made of lowercase ASCII letters,
    /// digits, `-` and `_` (at most 64 characters); anything else is a bug in the skill
    /// and panics, which the host reports when it first calls `describe` (at install).
    pub fn tool<A, R, F>(
        mut self,
        name: impl Into<Cow<'static, str>>,
        description: impl Into<Cow<'static, str>>,
        f: F,
    ) -> Self
    where
        A: DeserializeOwned + JsonSchema,
        R: Serialize,
        F: Fn(A) -> Result<R, ToolError> + 'static,
    {
        let name = name.into();
        if let Err(why) = check_name(&name) {
            panic!("chitin-sdk: invalid tool name {name:?}: {why}");
        }
        if self.tools.iter().any(|t| t.name == name) {
            panic!("chitin-sdk: tool {name:?} is declared twice");
        }
        let handler = move |tool: &str, args: &str| -> Result<String, ToolError> {
            let args = normalize_args(args);
            // serde would also read a struct from a JSON array; the contract is an object.
            if !args.trim_start().starts_with('{') {
                return Err(ToolError::invalid_input(format!(
                    "arguments of tool `{tool}` must be a JSON object"
                )));
            }
            let args: A = serde_json::from_str(args).map_err(|e| {
                ToolError::invalid_input(format!("arguments of tool `{tool}`: {e}"))
            })?;
            let result = f(args)?;
            serde_json::to_string(&result).map_err(|e| {
                ToolError::failed(format!(
                    "tool `{tool}` produced a result that is not JSON: {e}"
                ))
            })
        };
        self.tools.push(Tool {
            name,
            description: description.into(),
            schema: schema_json::<A>,
            handler: Box::new(handler),
        });
        self
    }

    /// The tools, with their input schemas, in declaration order.
    pub fn describe(&self) -> Vec<ToolInfo> {
        self.tools
            .iter()
            .map(|t| ToolInfo {
                name: t.name.to_string(),
                description: t.description.to_string(),
                input_schema: (t.schema)(),
            })
            .collect()
    }

    /// The tool names, in declaration order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tools.iter().map(|t| &*t.name)
    }

    /// Runs tool `name` with `args_json` (a JSON object) and returns its JSON result.
    ///
    /// Arguments that are not valid JSON or do not fit the tool's argument type, and
    /// unknown tools, give [`ToolError::InvalidInput`].
    pub fn invoke(&self, name: &str, args_json: &str) -> Result<String, ToolError> {
        match self.tools.iter().find(|t| t.name == name) {
            Some(tool) => (tool.handler)(name, args_json),
            None => {
                let known: Vec<&str> = self.names().collect();
                Err(ToolError::invalid_input(format!(
                    "unknown tool `{name}`; this skill has: {}",
                    if known.is_empty() {
                        "no tools".to_string()
                    } else {
                        known.join(", ")
                    }
                )))
            }
        }
    }
}

/// An absent argument object (empty text or `null`) counts as `{}`.
fn normalize_args(args: &str) -> &str {
    match args.trim() {
        "" | "null" => "{}",
        _ => args,
    }
}

fn check_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("it is empty");
    }
    if name.len() > 64 {
        return Err("it is longer than 64 characters");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    {
        return Err("only lowercase letters, digits, `-` and `_` are allowed");
    }
    Ok(())
}

/// The JSON Schema of `A` as compact JSON text, without the `$schema` keyword (the
/// dialect is always JSON Schema 2020-12, as generated by schemars).
fn schema_json<A: JsonSchema>() -> String {
    let mut schema = schemars::SchemaGenerator::default().into_root_schema_for::<A>();
    schema.remove("$schema");
    schema.to_value().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    /// Arguments of the test tool.
    #[derive(Deserialize, JsonSchema)]
    struct SearchArgs {
        /// Text to look for
        pattern: String,
        /// At most this many hits
        max_results: Option<usize>,
    }

    #[derive(Serialize)]
    struct Hit {
        line: usize,
    }

    fn search(args: SearchArgs) -> Result<Vec<Hit>, ToolError> {
        if args.pattern.is_empty() {
            return Err(ToolError::invalid_input("empty pattern"));
        }
        Ok((1..=args.max_results.unwrap_or(2))
            .map(|line| Hit { line })
            .collect())
    }

    fn tools() -> Tools {
        Tools::new()
            .tool("search", "Search files", search)
            .tool("noop", "Do nothing", |_: NoArgs| Ok("ok"))
            .tool("fail", "Always denied", |_: NoArgs| -> Result<(), _> {
                Err(ToolError::denied("no"))
            })
    }

    #[test]
    fn dispatches_by_name_and_serializes_results() {
        let t = tools();
        assert_eq!(
            t.invoke("search", r#"{"pattern":"x","max_results":3}"#)
                .unwrap(),
            r#"[{"line":1},{"line":2},{"line":3}]"#
        );
        assert_eq!(t.invoke("noop", "{}").unwrap(), r#""ok""#);
        assert_eq!(t.invoke("fail", "{}"), Err(ToolError::denied("no")));
        assert_eq!(
            t.invoke("search", r#"{"pattern":""}"#),
            Err(ToolError::invalid_input("empty pattern"))
        );
    }

    #[test]
    fn no_args_accepts_empty_null_and_extra_fields() {
        let t = tools();
        for args in ["", " ", "null", "{}", r#"{"whatever": 1}"#] {
            assert_eq!(t.invoke("noop", args).unwrap(), r#""ok""#, "args {args:?}");
        }
    }

    #[test]
    fn bad_arguments_are_invalid_input_with_serde_message() {
        let t = tools();
        let cases = [
            ("{not json", "key must be a string"),
            ("{}", "missing field `pattern`"),
            (
                r#"{"pattern": 3}"#,
                "invalid type: integer `3`, expected a string",
            ),
            (r#"{"pattern": "a", "max_results": -1}"#, "invalid value"),
            ("[]", "must be a JSON object"),
            (r#"["x", 3]"#, "must be a JSON object"),
            ("42", "must be a JSON object"),
        ];
        for (args, expected) in cases {
            match t.invoke("search", args) {
                Err(ToolError::InvalidInput(m)) => {
                    assert!(m.starts_with("arguments of tool `search`"), "{m}");
                    assert!(m.contains(expected), "{args}: {m}");
                }
                other => panic!("{args}: {other:?}"),
            }
        }
    }

    #[test]
    fn unknown_tool_names_the_known_ones() {
        let err = tools().invoke("serch", "{}").unwrap_err();
        assert_eq!(
            err,
            ToolError::invalid_input("unknown tool `serch`; this skill has: search, noop, fail")
        );
        let err = Tools::new().invoke("x", "{}").unwrap_err();
        assert_eq!(err.message(), "unknown tool `x`; this skill has: no tools");
    }

    #[test]
    fn describe_lists_tools_with_schemas() {
        let specs = tools().describe();
        let names: Vec<_> = specs.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["search", "noop", "fail"]);
        assert_eq!(specs[0].description, "Search files");

        let schema: Value = serde_json::from_str(&specs[0].input_schema).unwrap();
        assert_eq!(schema["type"], "object");
        assert!(schema.get("$schema").is_none());
        assert_eq!(schema["properties"]["pattern"]["type"], "string");
        assert_eq!(
            schema["properties"]["pattern"]["description"],
            "Text to look for"
        );
        assert_eq!(schema["required"], json!(["pattern"]));
        let max = &schema["properties"]["max_results"];
        assert_eq!(max["type"], json!(["integer", "null"]));
        assert_eq!(max["minimum"], 0);

        let schema: Value = serde_json::from_str(&specs[1].input_schema).unwrap();
        assert_eq!(schema["type"], "object");
    }

    #[test]
    fn tool_names_are_checked() {
        assert!(check_name("search_files-2").is_ok());
        for bad in ["", "Search", "a b", "é", "x.y", &"a".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    #[should_panic(expected = "invalid tool name \"Bad Name\"")]
    fn invalid_names_panic_at_registration() {
        let _ = Tools::new().tool("Bad Name", "", |_: NoArgs| Ok(()));
    }

    #[test]
    #[should_panic(expected = "declared twice")]
    fn duplicate_names_panic_at_registration() {
        let _ = Tools::new()
            .tool("a", "", |_: NoArgs| Ok(()))
            .tool("a", "", |_: NoArgs| Ok(()));
    }
}
