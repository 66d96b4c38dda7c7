//! Loading the mapping in force for a connection from the ledger, cached per warm container.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::error::{Classify, ErrorClass};
use crate::mapping::{Mapping, MappingFileError};
use crate::ports::LedgerError;
use crate::ports::MappingStore;

#[derive(Debug, thiserror::Error)]
pub enum MappingLoadError {
    #[error(
        "no mapping is stored under {name:?}: upload one with `orderbridge-admin mapping push --name {name} <file>`"
    )]
    NotStored { name: String },
    #[error("the stored mapping {name:?} v{version} is invalid: {source}")]
    Invalid {
        name: String,
        version: u64,
        #[source]
        source: MappingFileError,
    },
    #[error("reading mapping {name:?} failed")]
    Ledger {
        name: String,
        #[source]
        source: LedgerError,
    },
}

impl Classify for MappingLoadError {
    fn class(&self) -> ErrorClass {
        match self {
            // A person must upload or fix the mapping; keep the message around (DLQ) meanwhile.
            Self::NotStored { .. } | Self::Invalid { .. } => ErrorClass::Permanent,
            Self::Ledger { source, .. } => source.class(),
        }
    }
}

/// Latest mapping per name, re-read after `ttl` so an upload takes effect within a minute.
pub struct MappingCache {
    ttl: Duration,
    entries: Mutex<HashMap<String, (Instant, Arc<Mapping>)>>,
}

impl MappingCache {
    pub fn new(ttl: Duration) -> Self {
        Self { ttl, entries: Mutex::new(HashMap::new()) }
    }

    pub async fn get(&self, ledger: &dyn MappingStore, name: &str) -> Result<Arc<Mapping>, MappingLoadError> {
        if let Some((loaded, mapping)) = self.entries.lock().ok().and_then(|e| e.get(name).cloned()) {
            if loaded.elapsed() < self.ttl {
                return Ok(mapping);
            }
        }
        let stored = ledger
            .latest_mapping(name)
            .await
            .map_err(|source| MappingLoadError::Ledger { name: name.to_owned(), source })?
            .ok_or_else(|| MappingLoadError::NotStored { name: name.to_owned() })?;
        let mapping = Mapping::parse(&stored.source_path, stored.version, &stored.source)
            .map_err(|source| MappingLoadError::Invalid { name: name.to_owned(), version: stored.version, source })?;
        let mapping = Arc::new(mapping);
        if let Ok(mut entries) = self.entries.lock() {
            entries.insert(name.to_owned(), (Instant::now(), mapping.clone()));
        }
        Ok(mapping)
    }
}

/// Validates a mapping file and stores it as the next version (unchanged content keeps its version).
pub async fn push_mapping(
    ledger: &dyn MappingStore,
    name: &str,
    path: &str,
    source: &str,
) -> Result<crate::ports::StoredMapping, MappingLoadError> {
    Mapping::parse(path, 0, source).map_err(|source| MappingLoadError::Invalid {
        name: name.to_owned(),
        version: 0,
        source,
    })?;
    ledger
        .save_mapping(name, path, source)
        .await
        .map_err(|source| MappingLoadError::Ledger { name: name.to_owned(), source })
}
