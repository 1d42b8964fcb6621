//! Maps in scenario files that refuse a key written twice. Serde's own `BTreeMap`
//! keeps the last value silently, so `speed: {1: 0.5, 1: 2.0}` would mean 2.0
//! without a word.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};

/// How the message about a repeated key ends.
const TWICE: &str = " is listed twice";

/// What a parse error's `message` should say was expected, when it is about a
/// repeated key: "each worker once".
pub fn expected(message: &str) -> Option<String> {
    let noun = message.strip_suffix(TWICE)?.split(' ').next()?;
    Some(format!("each {noun} at most once"))
}

/// `deserialize_with` for a map keyed by worker id: "worker 1 is listed twice".
pub fn worker_map<'de, D, V>(deserializer: D) -> Result<BTreeMap<u32, V>, D::Error>
where
    D: Deserializer<'de>,
    V: Deserialize<'de>,
{
    unique_keys(deserializer, "worker")
}

/// A map whose keys must be distinct; `noun` names a key in the message
/// (`"{noun} {key} is listed twice"`).
pub fn unique_keys<'de, D, K, V>(deserializer: D, noun: &'static str) -> Result<BTreeMap<K, V>, D::Error>
where
    D: Deserializer<'de>,
    K: Deserialize<'de> + Ord + fmt::Display,
    V: Deserialize<'de>,
{
    deserializer.deserialize_map(UniqueKeys { noun, marker: PhantomData })
}

struct UniqueKeys<K, V> {
    noun: &'static str,
    marker: PhantomData<(K, V)>,
}

impl<'de, K, V> Visitor<'de> for UniqueKeys<K, V>
where
    K: Deserialize<'de> + Ord + fmt::Display,
    V: Deserialize<'de>,
{
    type Value = BTreeMap<K, V>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a map keyed by {}", self.noun)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
        let mut map = BTreeMap::new();
        while let Some(key) = access.next_key_seed(NewKey { map: &map, noun: self.noun })? {
            let value = access.next_value()?;
            map.insert(key, value);
        }
        Ok(map)
    }
}

/// Reads a key and refuses it if `map` has it already. Failing while the key is
/// read (not after) puts the error at the repeated key, with the key in its path.
struct NewKey<'m, K, V> {
    map: &'m BTreeMap<K, V>,
    noun: &'static str,
}

impl<'de, K, V> DeserializeSeed<'de> for NewKey<'_, K, V>
where
    K: Deserialize<'de> + Ord + fmt::Display,
{
    type Value = K;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<K, D::Error> {
        let key = K::deserialize(deserializer)?;
        if self.map.contains_key(&key) {
            return Err(de::Error::custom(format!("{} {key}{TWICE}", self.noun)));
        }
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Speeds(#[serde(deserialize_with = "worker_map")] BTreeMap<u32, f64>);

    fn parse(text: &str) -> Result<BTreeMap<u32, f64>, String> {
        ron::from_str::<Speeds>(text).map(|s| s.0).map_err(|e| e.code.to_string())
    }

    #[test]
    fn a_repeated_key_is_refused_not_overwritten() {
        assert_eq!(parse("({1: 0.5, 1: 2.0})"), Err("worker 1 is listed twice".into()));
        assert_eq!(parse("({3: 1.0, 0: 0.5, 3: 1.0})"), Err("worker 3 is listed twice".into()));
        assert_eq!(parse("({1: 0.5, 2: 2.0})"), Ok(BTreeMap::from([(1, 0.5), (2, 2.0)])));
        assert_eq!(parse("({})"), Ok(BTreeMap::new()));
    }

    #[test]
    fn the_message_says_what_was_expected() {
        assert_eq!(expected("worker 1 is listed twice").as_deref(), Some("each worker at most once"));
        assert_eq!(expected("Expected integer"), None);
    }
}
