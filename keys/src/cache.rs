//! A bounded, time-limited cache of unwrapped private keys, so that opening
//! many records does not ask the KEK (an HSM round trip) for every one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Cache limits.
#[derive(Clone, Copy, Debug)]
pub struct CacheConfig {
    /// Most keys held at once; the oldest is evicted first.
    pub max_entries: usize,
    /// How long an unwrapped key may stay in memory.
    pub ttl: Duration,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            max_entries: 1024,
            ttl: Duration::from_secs(300),
        }
    }
}

type Entries<V> = HashMap<(String, u32), (Arc<V>, Instant)>;

/// Keys are `(key_id, version)`; values are shared, never copied: dropping
/// the last `Arc` zeroizes the key.
pub(crate) struct KeyCache<V> {
    config: CacheConfig,
    map: Mutex<Entries<V>>,
}

impl<V> KeyCache<V> {
    pub(crate) fn new(config: CacheConfig) -> Self {
        KeyCache {
            config,
            map: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries<V>> {
        // A panic while holding the lock leaves only a map of Arcs behind:
        // recover it rather than poisoning every later caller.
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn get(&self, key_id: &str, version: u32) -> Option<Arc<V>> {
        let mut map = self.lock();
        let k = (key_id.to_owned(), version);
        match map.get(&k) {
            Some((v, at)) if at.elapsed() < self.config.ttl => Some(Arc::clone(v)),
            Some(_) => {
                map.remove(&k);
                None
            }
            None => None,
        }
    }

    pub(crate) fn insert(&self, key_id: &str, version: u32, value: Arc<V>) {
        if self.config.max_entries == 0 {
            return;
        }
        let mut map = self.lock();
        let ttl = self.config.ttl;
        map.retain(|_, (_, at)| at.elapsed() < ttl);
        while map.len() >= self.config.max_entries {
            let oldest = map
                .iter()
                .min_by_key(|(_, (_, at))| *at)
                .map(|(k, _)| k.clone());
            match oldest {
                Some(k) => {
                    map.remove(&k);
                }
                None => break,
            }
        }
        map.insert((key_id.to_owned(), version), (value, Instant::now()));
    }

    pub(crate) fn remove_key(&self, key_id: &str, version: u32) {
        self.lock().remove(&(key_id.to_owned(), version));
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_size_and_lifetime() {
        let c = KeyCache::new(CacheConfig {
            max_entries: 2,
            ttl: Duration::from_millis(50),
        });
        c.insert("a", 1, Arc::new(1));
        c.insert("b", 1, Arc::new(2));
        c.insert("c", 1, Arc::new(3));
        assert_eq!(c.len(), 2);
        assert!(c.get("a", 1).is_none(), "oldest evicted");
        assert_eq!(*c.get("c", 1).unwrap(), 3);
        std::thread::sleep(Duration::from_millis(60));
        assert!(c.get("c", 1).is_none(), "expired");
        c.remove_key("b", 1);
        assert_eq!(c.len(), 0);
    }
}
