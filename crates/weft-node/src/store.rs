//! The node's durable store: one SQLite database, `<data dir>/node.sqlite3`,
//! that holds everything a node needs to come back after a restart or a
//! `kill -9` without losing a script or running one twice.
//!
//! # What it holds
//!
//! ```text
//! modules      hash BLOB (sha-256, 32 bytes) PK, wasm BLOB
//! sources      module BLOB PK -> modules, file TEXT, text TEXT: the source
//!              of a module deployed from source (schema version 2)
//! scripts      id TEXT PK, name, owner, module BLOB(32), args TEXT (a JSON
//!              list of strings), state TEXT, exit TEXT NULL, created_at
//!              REAL, log_lines INTEGER (how many rows `logs` holds for it)
//! checkpoints  script TEXT PK -> scripts ON DELETE CASCADE, seq INTEGER,
//!              log_next INTEGER, taken_at REAL, snapshot BLOB (last, so
//!              that reading the small columns does not walk the blob)
//! logs         (script -> scripts ON DELETE CASCADE, seq) PK, stream TEXT,
//!              text TEXT; WITHOUT ROWID, so a script's lines are one range
//!              of the primary key
//! transfers    id TEXT PK, script, peer, direction TEXT, phase TEXT,
//!              snapshot BLOB NULL, updated_at REAL
//! ```
//!
//! Every table is `STRICT`, so a value of the wrong type is refused on the
//! way in; enums are stored as their lower-case names (`running`, `out`,
//! `in`, ...), as the HTTP API spells them. Whatever is read back is checked
//! again: a row the store cannot make sense of is [`Error::Corrupt`], never a
//! panic.
//!
//! # Invariants
//!
//! - A script has at most one checkpoint, the newest: a checkpoint whose
//!   `seq` is not greater than the stored one is ignored, so a late or
//!   replayed save never moves a script back in time.
//! - Checkpoints and log lines exist only for scripts in `scripts`: saving
//!   either for an unknown script (deleted meanwhile) skips it, and
//!   [`Store::delete_script`] takes its checkpoint and lines with it.
//! - At most [`LOG_LINES_KEPT`] lines per script: `scripts.log_lines` counts
//!   them, so trimming deletes exactly the excess from the front of the
//!   script's key range and never counts or scans the whole table.
//! - Recovery after a crash: for each script, restore its checkpoint and
//!   [`Store::truncate_logs`] from the checkpoint's `log_next`; the script
//!   writes those lines again as it replays.
//!
//! # Durability
//!
//! The journal is a write-ahead log with `synchronous = NORMAL`: a commit
//! is in the WAL file, in the operating system's hands, when the call
//! returns, so a process crash (`kill -9`, a panic, an OOM kill) loses
//! nothing that was committed. A power loss or kernel crash may lose the
//! last commits before the WAL is synced at a checkpoint, but never
//! corrupts the database: the node then restarts from slightly older
//! checkpoints, which the `seq` rule above makes harmless. `FULL` would
//! sync the WAL on every commit, which a node checkpointing 1,000 scripts
//! per round cannot afford for a guarantee it does not need.
//!
//! # One node per directory
//!
//! [`Store::open`] takes an exclusive lock on `<data dir>/node.lock` for the
//! life of the [`Store`], so that two nodes never run the same scripts from
//! one directory. The operating system drops the lock when the process
//! dies, however it dies.
//!
//! # Transactions
//!
//! Each [`Store`] method is atomic. To combine steps (mark a script `away`
//! and record its transfer), use [`Store::transaction`] with the free
//! functions of this module, which take the transaction as a
//! [`Connection`]; the [`Store`] methods would wait for the store's lock,
//! which the transaction holds, for ever.
//!
//! ```ignore
//! # fn f(store: &weft_node::store::Store, transfer: &weft_node::store::Transfer)
//! #     -> weft_node::store::Result<()> {
//! use weft_node::store::{self, ScriptState};
//! store.transaction(|tx| {
//!     store::set_state(tx, &transfer.script, ScriptState::Away, None)?;
//!     store::put_transfer(tx, transfer)
//! })
//! # }
//! ```

use crate::source::SourceFile;
use rusqlite::types::FromSql;
use rusqlite::{Connection, ErrorCode, OptionalExtension, Row, Transaction, TransactionBehavior};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// The name of the database file in the data directory.
pub const DATABASE_FILE: &str = "node.sqlite3";

/// The name of the lock file in the data directory.
pub const LOCK_FILE: &str = "node.lock";

/// The schema version this store writes, in `PRAGMA user_version`.
pub const SCHEMA_VERSION: i64 = 2;

/// `PRAGMA application_id` of a weft store: "weft" in ASCII.
pub const APPLICATION_ID: i64 = 0x7765_6674;

/// How many log lines the store keeps of each script: the newest ones.
pub const LOG_LINES_KEPT: u64 = 10_000;

/// The table schema version 2 added: the source of modules deployed from
/// source.
const SOURCES_TABLE: &str = "
CREATE TABLE sources (
    module BLOB NOT NULL PRIMARY KEY REFERENCES modules (hash),
    file TEXT NOT NULL,
    text TEXT NOT NULL
) STRICT;
";

/// The schema of version 1; [`SOURCES_TABLE`] completes it to
/// [`SCHEMA_VERSION`].
const SCHEMA: &str = "
CREATE TABLE modules (
    hash BLOB NOT NULL PRIMARY KEY CHECK (length(hash) = 32),
    wasm BLOB NOT NULL
) STRICT;
CREATE TABLE scripts (
    id TEXT NOT NULL PRIMARY KEY,
    name TEXT NOT NULL,
    owner TEXT NOT NULL,
    module BLOB NOT NULL CHECK (length(module) = 32),
    args TEXT NOT NULL,
    state TEXT NOT NULL,
    exit TEXT,
    created_at REAL NOT NULL,
    log_lines INTEGER NOT NULL DEFAULT 0 CHECK (log_lines >= 0)
) STRICT;
CREATE TABLE checkpoints (
    script TEXT NOT NULL PRIMARY KEY REFERENCES scripts (id) ON DELETE CASCADE,
    seq INTEGER NOT NULL CHECK (seq >= 0),
    log_next INTEGER NOT NULL CHECK (log_next >= 0),
    taken_at REAL NOT NULL,
    snapshot BLOB NOT NULL
) STRICT;
CREATE TABLE logs (
    script TEXT NOT NULL REFERENCES scripts (id) ON DELETE CASCADE,
    seq INTEGER NOT NULL CHECK (seq >= 0),
    stream TEXT NOT NULL,
    text TEXT NOT NULL,
    PRIMARY KEY (script, seq)
) STRICT, WITHOUT ROWID;
CREATE TABLE transfers (
    id TEXT NOT NULL PRIMARY KEY,
    script TEXT NOT NULL,
    peer TEXT NOT NULL,
    direction TEXT NOT NULL,
    phase TEXT NOT NULL,
    snapshot BLOB,
    updated_at REAL NOT NULL
) STRICT;
";

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The thing exists already, e.g. "script `counter-1f3a`".
    #[error("{0} exists already")]
    Exists(String),
    /// The thing does not exist, e.g. "script `counter-1f3a`".
    #[error("no {0} in the store")]
    NotFound(String),
    /// Data read back from the database makes no sense.
    #[error("the store is corrupt: {0}")]
    Corrupt(String),
    /// A value given to the store that it cannot hold.
    #[error("{0}")]
    Invalid(String),
    /// The file is not a weft store.
    #[error("{}: {reason}; is the data directory right?", path.display())]
    NotAStore {
        /// The database file.
        path: PathBuf,
        /// What it is instead.
        reason: String,
    },
    /// The database was written by a newer weft.
    #[error(
        "{}: schema version {found} is newer than version {SCHEMA_VERSION}, the newest this weft knows; \
         run a newer weft on this data directory",
        path.display()
    )]
    TooNew {
        /// The database file.
        path: PathBuf,
        /// Its `user_version`.
        found: i64,
    },
    /// Another store (another node) has the data directory open.
    #[error("{}: the data directory is in use by another node", .0.display())]
    InUse(PathBuf),
    /// SQLite failed.
    #[error("SQLite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// Creating or opening a file failed.
    #[error("{}: {}", .0.display(), .1)]
    Io(PathBuf, std::io::Error),
}

/// The result of store operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Defines an enum stored as text, with `as_str`, `Display` and `FromStr`.
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident, $what:literal { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)* }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(rename_all = "lowercase")]
        pub enum $name {
            $($(#[$vmeta])* $variant,)*
        }

        impl $name {
            /// The name the store and the HTTP API use.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)*
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = String;

            fn from_str(text: &str) -> std::result::Result<Self, String> {
                match text {
                    $($text => Ok(Self::$variant),)*
                    _ => Err(format!(
                        concat!("`{}` is not a ", $what, " (", $($text, " ",)* ")"),
                        text.escape_debug()
                    )),
                }
            }
        }
    };
}

text_enum! {
    /// Where a script is in its life.
    ScriptState, "script state" {
        /// Scheduled (it may be parked, waiting for a message or a timer).
        Running = "running",
        /// Stopped by `pause`, until `resume`.
        Paused = "paused",
        /// Ended by itself; the record's `exit` says how.
        Exited = "exited",
        /// Ended by `kill`.
        Killed = "killed",
        /// Migrating out to a peer: not run here, kept until the peer has it.
        Away = "away",
    }
}

text_enum! {
    /// The standard stream a log line was written to.
    Stream, "stream" {
        /// Standard output.
        Out = "out",
        /// Standard error.
        Err = "err",
    }
}

text_enum! {
    /// Which way a script migrates.
    Direction, "direction" {
        /// From this node to the peer.
        Out = "out",
        /// From the peer to this node.
        In = "in",
    }
}

/// A script as the node knows it.
#[derive(Clone, Debug, PartialEq)]
pub struct ScriptRecord {
    /// Its id, unique on the node.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Who deployed it.
    pub owner: String,
    /// The sha-256 of its original wasm (see [`Store::module`]).
    pub module: [u8; 32],
    /// Its arguments.
    pub args: Vec<String>,
    /// Where it is in its life.
    pub state: ScriptState,
    /// How it ended, once it has.
    pub exit: Option<String>,
    /// When it was deployed, in Unix seconds.
    pub created_at: f64,
}

/// A script's durable checkpoint.
#[derive(Clone, Debug, PartialEq)]
pub struct Checkpoint {
    /// The script's id.
    pub script: String,
    /// Increases with each checkpoint of the script.
    pub seq: u64,
    /// The encoded snapshot.
    pub snapshot: Vec<u8>,
    /// The seq of the next log line the script writes after this checkpoint.
    pub log_next: u64,
    /// When it was taken, in Unix seconds.
    pub taken_at: f64,
}

/// One line a script wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    /// The script's id.
    pub script: String,
    /// The line's number among the script's lines, from 0.
    pub seq: u64,
    /// The stream it went to.
    pub stream: Stream,
    /// The line, without its newline.
    pub text: String,
}

/// A migration of a script between this node and a peer, as far as it got.
#[derive(Clone, Debug, PartialEq)]
pub struct Transfer {
    /// The transfer's id, the same on both nodes.
    pub id: String,
    /// The script's id.
    pub script: String,
    /// The peer node.
    pub peer: String,
    /// Which way the script goes.
    pub direction: Direction,
    /// How far the protocol got; the migration code names the phases.
    pub phase: String,
    /// The snapshot that travels, while a side needs to keep it.
    pub snapshot: Option<Vec<u8>>,
    /// When the transfer last changed, in Unix seconds.
    pub updated_at: f64,
}

/// The node's durable store. See the [module docs](self).
pub struct Store {
    // Declared before `_lock`, so that it closes (and checkpoints its WAL)
    // before the lock is released.
    connection: Mutex<Connection>,
    path: PathBuf,
    _lock: File,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens the store in `dir`, creating the directory and the database if
    /// need be. Fails if another store has `dir` open, if the file is not a
    /// weft store, or if a newer weft wrote it.
    pub fn open(dir: &Path) -> Result<Store> {
        std::fs::create_dir_all(dir).map_err(|e| Error::Io(dir.to_owned(), e))?;
        let lock_path = dir.join(LOCK_FILE);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| Error::Io(lock_path.clone(), e))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Err(Error::InUse(dir.to_owned())),
            Err(std::fs::TryLockError::Error(e)) => return Err(Error::Io(lock_path, e)),
        }
        let path = dir.join(DATABASE_FILE);
        let connection = open_database(&path).map_err(|e| match e {
            Error::Sqlite(e) if e.sqlite_error_code() == Some(ErrorCode::NotADatabase) => {
                Error::NotAStore {
                    path: path.clone(),
                    reason: "not a SQLite database".into(),
                }
            }
            e => e,
        })?;
        Ok(Store {
            connection: Mutex::new(connection),
            path,
            _lock: lock,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` in one transaction: commits what it did if it returns `Ok`,
    /// rolls everything back if it returns `Err` (or panics). Inside, use
    /// the free functions of this module on the transaction, not the
    /// `Store`'s methods (they would wait for the transaction to end).
    pub fn transaction<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        let mut connection = self.connection();
        let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let value = f(&transaction)?;
        transaction.commit()?;
        Ok(value)
    }

    /// Stores a module under its hash; storing it again does nothing.
    /// Fails if `wasm` does not hash to `hash`.
    pub fn put_module(&self, hash: &[u8; 32], wasm: &[u8]) -> Result<()> {
        put_module(&self.connection(), hash, wasm)
    }

    /// The module of that hash, if stored.
    pub fn module(&self, hash: &[u8; 32]) -> Result<Option<Vec<u8>>> {
        module(&self.connection(), hash)
    }

    /// Keeps the source of a stored module; keeping it again replaces it.
    pub fn put_source(&self, hash: &[u8; 32], source: &SourceFile) -> Result<()> {
        self.connection()
            .prepare_cached(
                "INSERT INTO sources (module, file, text) VALUES (?1, ?2, ?3)
                 ON CONFLICT (module) DO UPDATE SET file = excluded.file, text = excluded.text",
            )?
            .execute((&hash[..], &source.file, &source.text))?;
        Ok(())
    }

    /// The source of that module, if it was deployed from source.
    pub fn source(&self, hash: &[u8; 32]) -> Result<Option<SourceFile>> {
        Ok(self
            .connection()
            .prepare_cached("SELECT file, text FROM sources WHERE module = ?1")?
            .query_row([&hash[..]], |row| {
                Ok(SourceFile {
                    file: row.get(0)?,
                    text: row.get(1)?,
                })
            })
            .optional()?)
    }

    /// Adds a script; [`Error::Exists`] if its id is taken.
    pub fn insert_script(&self, record: &ScriptRecord) -> Result<()> {
        insert_script(&self.connection(), record)
    }

    /// Sets a script's state and exit; [`Error::NotFound`] if there is no
    /// such script.
    pub fn set_state(&self, id: &str, state: ScriptState, exit: Option<&str>) -> Result<()> {
        set_state(&self.connection(), id, state, exit)
    }

    /// Deletes a script with its checkpoint and log lines;
    /// [`Error::NotFound`] if there is no such script.
    pub fn delete_script(&self, id: &str) -> Result<()> {
        delete_script(&self.connection(), id)
    }

    /// The script of that id, if any.
    pub fn script(&self, id: &str) -> Result<Option<ScriptRecord>> {
        script(&self.connection(), id)
    }

    /// Every script, in id order.
    pub fn scripts(&self) -> Result<Vec<ScriptRecord>> {
        scripts(&self.connection())
    }

    /// Saves a batch of checkpoints in one transaction and returns how many
    /// were stored. A checkpoint no newer (by `seq`) than the script's
    /// stored one is ignored, and so is one for a script the store does not
    /// have (deleted meanwhile); neither is counted.
    pub fn save_checkpoints(&self, batch: &[Checkpoint]) -> Result<usize> {
        save_checkpoints(&self.connection(), batch)
    }

    /// The newest checkpoint of a script, if any.
    pub fn checkpoint(&self, id: &str) -> Result<Option<Checkpoint>> {
        checkpoint(&self.connection(), id)
    }

    /// Appends log lines in one transaction, then trims each script to its
    /// newest [`LOG_LINES_KEPT`] lines. A line whose `(script, seq)` is
    /// stored already replaces it; lines of a script the store does not
    /// have (deleted meanwhile) are skipped.
    pub fn append_logs(&self, lines: &[LogLine]) -> Result<()> {
        append_logs(&self.connection(), lines)
    }

    /// At most `limit` lines of a script with `seq >= since`, oldest first.
    pub fn logs(&self, id: &str, since: u64, limit: usize) -> Result<Vec<LogLine>> {
        logs(&self.connection(), id, since, limit)
    }

    /// One more than the highest log seq stored for the script, 0 if none.
    pub fn next_log_seq(&self, id: &str) -> Result<u64> {
        next_log_seq(&self.connection(), id)
    }

    /// Deletes a script's log lines with `seq >= from_seq`.
    pub fn truncate_logs(&self, id: &str, from_seq: u64) -> Result<()> {
        truncate_logs(&self.connection(), id, from_seq)
    }

    /// Stores a transfer, replacing the one of the same id.
    pub fn put_transfer(&self, transfer: &Transfer) -> Result<()> {
        put_transfer(&self.connection(), transfer)
    }

    /// The transfer of that id, if any.
    pub fn transfer(&self, id: &str) -> Result<Option<Transfer>> {
        transfer(&self.connection(), id)
    }

    /// Every transfer, in id order.
    pub fn transfers(&self) -> Result<Vec<Transfer>> {
        transfers(&self.connection())
    }

    /// Deletes a transfer; [`Error::NotFound`] if there is no such transfer.
    pub fn delete_transfer(&self, id: &str) -> Result<()> {
        delete_transfer(&self.connection(), id)
    }

    /// The connection, once no one else uses it.
    fn connection(&self) -> MutexGuard<'_, Connection> {
        self.connection.lock().unwrap_or_else(|poisoned| {
            let connection = poisoned.into_inner();
            // A panic under the lock may have left a savepoint open; its
            // writes are of a half-done operation.
            if !connection.is_autocommit() {
                let _ = connection.execute_batch("ROLLBACK");
            }
            connection
        })
    }
}

/// Opens the database file and brings its schema to [`SCHEMA_VERSION`].
fn open_database(path: &Path) -> Result<Connection> {
    let connection = Connection::open(path)?;
    connection.busy_timeout(Duration::from_secs(5))?;
    // The first read of the file: where a file that is not a database fails.
    let version: i64 = connection.pragma_query_value(None, "user_version", |row| row.get(0))?;
    let application_id: i64 =
        connection.pragma_query_value(None, "application_id", |row| row.get(0))?;
    let not_a_store = |reason: String| Error::NotAStore {
        path: path.to_owned(),
        reason,
    };
    if version == 0 {
        let tables: i64 =
            connection.query_row("SELECT count(*) FROM sqlite_schema", [], |row| row.get(0))?;
        if tables != 0 || application_id != 0 {
            return Err(not_a_store(
                "a SQLite database, but not a weft store".into(),
            ));
        }
    } else if application_id != APPLICATION_ID {
        return Err(not_a_store(format!(
            "a SQLite database of another application (application_id {application_id:#x})"
        )));
    } else if version > SCHEMA_VERSION {
        return Err(Error::TooNew {
            path: path.to_owned(),
            found: version,
        });
    } else if version < 0 {
        return Err(not_a_store(format!(
            "a weft store of unknown schema version {version}"
        )));
    }

    let journal: String =
        connection.pragma_update_and_check(None, "journal_mode", "wal", |row| row.get(0))?;
    if !journal.eq_ignore_ascii_case("wal") {
        return Err(Error::Invalid(format!(
            "{}: SQLite refused the WAL journal (journal mode is `{journal}`)",
            path.display()
        )));
    }
    // Durable across a process crash; see the module docs.
    connection.pragma_update(None, "synchronous", "NORMAL")?;
    connection.pragma_update(None, "foreign_keys", true)?;
    // A checkpoint round writes a WAL as large as its batch; give the disk
    // back after it rather than keep the largest WAL ever written.
    connection.pragma_update(None, "journal_size_limit", 64 << 20)?;

    if version == 0 {
        let transaction = Transaction::new_unchecked(&connection, TransactionBehavior::Immediate)?;
        transaction.execute_batch(SCHEMA)?;
        transaction.execute_batch(SOURCES_TABLE)?;
        transaction.pragma_update(None, "application_id", APPLICATION_ID)?;
        transaction.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        transaction.commit()?;
    }
    if version == 1 {
        // Version 2 keeps the source of modules deployed from source.
        let transaction = Transaction::new_unchecked(&connection, TransactionBehavior::Immediate)?;
        transaction.execute_batch(SOURCES_TABLE)?;
        transaction.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        transaction.commit()?;
    }
    Ok(connection)
}

/// Runs `f` atomically: inside a savepoint, so that it joins a transaction
/// the caller has open and is one transaction of its own otherwise.
fn atomically<T>(connection: &Connection, f: impl FnOnce() -> Result<T>) -> Result<T> {
    let outermost = connection.is_autocommit();
    connection.execute_batch("SAVEPOINT weft_store")?;
    let result = f().and_then(|value| {
        connection.execute_batch("RELEASE weft_store")?;
        Ok(value)
    });
    if result.is_err() {
        // Best effort: the error to report is the one that got us here.
        if !outermost {
            let _ = connection.execute_batch("ROLLBACK TO weft_store; RELEASE weft_store");
        } else if !connection.is_autocommit() {
            let _ = connection.execute_batch("ROLLBACK");
        }
    }
    result
}

/// Stores a module under its hash; storing it again does nothing. Fails if
/// `wasm` does not hash to `hash`.
pub fn put_module(connection: &Connection, hash: &[u8; 32], wasm: &[u8]) -> Result<()> {
    let actual: [u8; 32] = Sha256::digest(wasm).into();
    if actual != *hash {
        return Err(Error::Invalid(format!(
            "the module given as {} hashes to {}",
            hex::encode(hash),
            hex::encode(actual)
        )));
    }
    connection
        .prepare_cached(
            "INSERT INTO modules (hash, wasm) VALUES (?1, ?2) ON CONFLICT (hash) DO NOTHING",
        )?
        .execute((&hash[..], wasm))?;
    Ok(())
}

/// The module of that hash, if stored.
pub fn module(connection: &Connection, hash: &[u8; 32]) -> Result<Option<Vec<u8>>> {
    let wasm: Option<Vec<u8>> = connection
        .prepare_cached("SELECT wasm FROM modules WHERE hash = ?1")?
        .query_row([&hash[..]], |row| row.get(0))
        .optional()?;
    match wasm {
        Some(wasm) if Sha256::digest(&wasm)[..] != hash[..] => Err(Error::Corrupt(format!(
            "module {}: the stored bytes hash to something else",
            hex::encode(hash)
        ))),
        wasm => Ok(wasm),
    }
}

/// Adds a script; [`Error::Exists`] if its id is taken.
pub fn insert_script(connection: &Connection, record: &ScriptRecord) -> Result<()> {
    let args = serde_json::to_string(&record.args)
        .map_err(|e| Error::Invalid(format!("script `{}`: its args: {e}", record.id)))?;
    let created_at = time(record.created_at, "created_at")?;
    let inserted = connection
        .prepare_cached(
            "INSERT INTO scripts (id, name, owner, module, args, state, exit, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (id) DO NOTHING",
        )?
        .execute((
            &record.id,
            &record.name,
            &record.owner,
            &record.module[..],
            args,
            record.state.as_str(),
            &record.exit,
            created_at,
        ))?;
    if inserted == 0 {
        return Err(Error::Exists(format!("script `{}`", record.id)));
    }
    Ok(())
}

/// Sets a script's state and exit; [`Error::NotFound`] if there is no such
/// script.
pub fn set_state(
    connection: &Connection,
    id: &str,
    state: ScriptState,
    exit: Option<&str>,
) -> Result<()> {
    let updated = connection
        .prepare_cached("UPDATE scripts SET state = ?2, exit = ?3 WHERE id = ?1")?
        .execute((id, state.as_str(), exit))?;
    if updated == 0 {
        return Err(Error::NotFound(format!("script `{id}`")));
    }
    Ok(())
}

/// Deletes a script with its checkpoint and log lines; [`Error::NotFound`]
/// if there is no such script.
pub fn delete_script(connection: &Connection, id: &str) -> Result<()> {
    // `ON DELETE CASCADE` takes the checkpoint and the lines in the same
    // statement.
    let deleted = connection
        .prepare_cached("DELETE FROM scripts WHERE id = ?1")?
        .execute([id])?;
    if deleted == 0 {
        return Err(Error::NotFound(format!("script `{id}`")));
    }
    Ok(())
}

const SCRIPT_COLUMNS: &str = "id, name, owner, module, args, state, exit, created_at";

/// The script of that id, if any.
pub fn script(connection: &Connection, id: &str) -> Result<Option<ScriptRecord>> {
    let mut statement = connection.prepare_cached(&format!(
        "SELECT {SCRIPT_COLUMNS} FROM scripts WHERE id = ?1"
    ))?;
    let mut rows = statement.query([id])?;
    rows.next()?.map(script_from_row).transpose()
}

/// Every script, in id order.
pub fn scripts(connection: &Connection) -> Result<Vec<ScriptRecord>> {
    let mut statement =
        connection.prepare_cached(&format!("SELECT {SCRIPT_COLUMNS} FROM scripts ORDER BY id"))?;
    let mut rows = statement.query([])?;
    let mut scripts = Vec::new();
    while let Some(row) = rows.next()? {
        scripts.push(script_from_row(row)?);
    }
    Ok(scripts)
}

fn script_from_row(row: &Row<'_>) -> Result<ScriptRecord> {
    let id: String = column(row, 0, "a script")?;
    let what = format!("script `{id}`");
    let corrupt = |problem: String| Error::Corrupt(format!("{what}: {problem}"));
    let module: Vec<u8> = column(row, 3, &what)?;
    let module = <[u8; 32]>::try_from(module.as_slice())
        .map_err(|_| corrupt(format!("a module hash of {} bytes, not 32", module.len())))?;
    let args: String = column(row, 4, &what)?;
    let args = serde_json::from_str(&args)
        .map_err(|e| corrupt(format!("args that are not a JSON list of strings: {e}")))?;
    let state: String = column(row, 5, &what)?;
    Ok(ScriptRecord {
        name: column(row, 1, &what)?,
        owner: column(row, 2, &what)?,
        module,
        args,
        state: state.parse().map_err(corrupt)?,
        exit: column(row, 6, &what)?,
        created_at: column(row, 7, &what)?,
        id,
    })
}

/// Saves a batch of checkpoints atomically and returns how many were
/// stored: not those no newer than the stored one, nor those of scripts the
/// store does not have.
pub fn save_checkpoints(connection: &Connection, batch: &[Checkpoint]) -> Result<usize> {
    atomically(connection, || {
        let mut statement = connection.prepare_cached(
            "INSERT INTO checkpoints (script, seq, log_next, taken_at, snapshot)
             SELECT ?1, ?2, ?3, ?4, ?5 WHERE EXISTS (SELECT 1 FROM scripts WHERE id = ?1)
             ON CONFLICT (script) DO UPDATE SET
                 seq = excluded.seq, log_next = excluded.log_next,
                 taken_at = excluded.taken_at, snapshot = excluded.snapshot
             WHERE excluded.seq > checkpoints.seq",
        )?;
        let mut stored = 0;
        for checkpoint in batch {
            let what = |field| format!("the {field} of a checkpoint of `{}`", checkpoint.script);
            stored += statement.execute((
                &checkpoint.script,
                int(checkpoint.seq, || what("seq"))?,
                int(checkpoint.log_next, || what("log_next"))?,
                time(checkpoint.taken_at, "taken_at")?,
                &checkpoint.snapshot,
            ))?;
        }
        Ok(stored)
    })
}

/// The newest checkpoint of a script, if any.
pub fn checkpoint(connection: &Connection, id: &str) -> Result<Option<Checkpoint>> {
    let mut statement = connection.prepare_cached(
        "SELECT seq, log_next, taken_at, snapshot FROM checkpoints WHERE script = ?1",
    )?;
    let mut rows = statement.query([id])?;
    let Some(row) = rows.next()? else {
        return Ok(None);
    };
    let what = format!("the checkpoint of `{id}`");
    Ok(Some(Checkpoint {
        script: id.to_owned(),
        seq: uint(column(row, 0, &what)?, || format!("{what}: seq"))?,
        log_next: uint(column(row, 1, &what)?, || format!("{what}: log_next"))?,
        taken_at: column(row, 2, &what)?,
        snapshot: column(row, 3, &what)?,
    }))
}

/// Appends log lines atomically, then trims each script to its newest
/// [`LOG_LINES_KEPT`] lines. A line whose `(script, seq)` is stored already
/// replaces it; lines of scripts the store does not have are skipped.
pub fn append_logs(connection: &Connection, lines: &[LogLine]) -> Result<()> {
    atomically(connection, || {
        // Per script: the lines it has stored, `None` if it does not exist.
        let mut counts: HashMap<&str, Option<u64>> = HashMap::new();
        let mut count_of =
            connection.prepare_cached("SELECT log_lines FROM scripts WHERE id = ?1")?;
        let mut insert = connection.prepare_cached(
            "INSERT INTO logs (script, seq, stream, text) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (script, seq) DO NOTHING",
        )?;
        let mut replace = connection.prepare_cached(
            "UPDATE logs SET stream = ?3, text = ?4 WHERE script = ?1 AND seq = ?2",
        )?;
        for line in lines {
            let count = match counts.get_mut(line.script.as_str()) {
                Some(count) => count,
                None => {
                    let count: Option<i64> = count_of
                        .query_row([&line.script], |row| row.get(0))
                        .optional()?;
                    let count = count
                        .map(|count| {
                            uint(count, || {
                                format!("the log line count of script `{}`", line.script)
                            })
                        })
                        .transpose()?;
                    counts.entry(&line.script).or_insert(count)
                }
            };
            let Some(count) = count else { continue };
            let seq = int(line.seq, || {
                format!("the seq of a log line of `{}`", line.script)
            })?;
            let row = (&line.script, seq, line.stream.as_str(), &line.text);
            if insert.execute(row)? == 1 {
                *count += 1;
            } else {
                replace.execute(row)?;
            }
        }
        let mut trim = connection.prepare_cached(
            "DELETE FROM logs WHERE script = ?1 AND seq IN
                 (SELECT seq FROM logs WHERE script = ?1 ORDER BY seq LIMIT ?2)",
        )?;
        let mut set_count =
            connection.prepare_cached("UPDATE scripts SET log_lines = ?2 WHERE id = ?1")?;
        for (script, count) in counts {
            let Some(mut count) = count else { continue };
            if count > LOG_LINES_KEPT {
                let trimmed = trim.execute((
                    script,
                    int(count - LOG_LINES_KEPT, || "a log line count".into())?,
                ))?;
                count -= trimmed as u64;
            }
            set_count.execute((script, int(count, || "a log line count".into())?))?;
        }
        Ok(())
    })
}

/// At most `limit` lines of a script with `seq >= since`, oldest first.
pub fn logs(connection: &Connection, id: &str, since: u64, limit: usize) -> Result<Vec<LogLine>> {
    // Seqs above i64::MAX cannot be stored: nothing lies beyond them.
    let Ok(since) = i64::try_from(since) else {
        return Ok(Vec::new());
    };
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut statement = connection.prepare_cached(
        "SELECT seq, stream, text FROM logs WHERE script = ?1 AND seq >= ?2 ORDER BY seq LIMIT ?3",
    )?;
    let mut rows = statement.query((id, since, limit))?;
    let what = format!("a log line of `{id}`");
    let mut lines = Vec::new();
    while let Some(row) = rows.next()? {
        let stream: String = column(row, 1, &what)?;
        lines.push(LogLine {
            script: id.to_owned(),
            seq: uint(column(row, 0, &what)?, || format!("{what}: seq"))?,
            stream: stream
                .parse()
                .map_err(|e| Error::Corrupt(format!("{what}: {e}")))?,
            text: column(row, 2, &what)?,
        });
    }
    Ok(lines)
}

/// One more than the highest log seq stored for the script, 0 if none.
pub fn next_log_seq(connection: &Connection, id: &str) -> Result<u64> {
    let highest: Option<i64> = connection
        .prepare_cached("SELECT max(seq) FROM logs WHERE script = ?1")?
        .query_row([id], |row| row.get(0))?;
    match highest {
        None => Ok(0),
        Some(highest) => {
            let what = || format!("the highest log seq of `{id}`");
            let highest = uint(highest, what)?;
            highest.checked_add(1).ok_or_else(|| Error::Corrupt(what()))
        }
    }
}

/// Deletes a script's log lines with `seq >= from_seq`.
pub fn truncate_logs(connection: &Connection, id: &str, from_seq: u64) -> Result<()> {
    let Ok(from_seq) = i64::try_from(from_seq) else {
        return Ok(());
    };
    atomically(connection, || {
        let deleted = connection
            .prepare_cached("DELETE FROM logs WHERE script = ?1 AND seq >= ?2")?
            .execute((id, from_seq))?;
        if deleted != 0 {
            connection
                .prepare_cached(
                    "UPDATE scripts SET log_lines = max(log_lines - ?2, 0) WHERE id = ?1",
                )?
                .execute((id, int(deleted as u64, || "a log line count".into())?))?;
        }
        Ok(())
    })
}

/// Stores a transfer, replacing the one of the same id.
pub fn put_transfer(connection: &Connection, transfer: &Transfer) -> Result<()> {
    connection
        .prepare_cached(
            "INSERT INTO transfers (id, script, peer, direction, phase, snapshot, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (id) DO UPDATE SET
                 script = excluded.script, peer = excluded.peer, direction = excluded.direction,
                 phase = excluded.phase, snapshot = excluded.snapshot, updated_at = excluded.updated_at",
        )?
        .execute((
            &transfer.id,
            &transfer.script,
            &transfer.peer,
            transfer.direction.as_str(),
            &transfer.phase,
            &transfer.snapshot,
            time(transfer.updated_at, "updated_at")?,
        ))?;
    Ok(())
}

const TRANSFER_COLUMNS: &str = "id, script, peer, direction, phase, updated_at, snapshot";

/// The transfer of that id, if any.
pub fn transfer(connection: &Connection, id: &str) -> Result<Option<Transfer>> {
    let mut statement = connection.prepare_cached(&format!(
        "SELECT {TRANSFER_COLUMNS} FROM transfers WHERE id = ?1"
    ))?;
    let mut rows = statement.query([id])?;
    rows.next()?.map(transfer_from_row).transpose()
}

/// Every transfer, in id order.
pub fn transfers(connection: &Connection) -> Result<Vec<Transfer>> {
    let mut statement = connection.prepare_cached(&format!(
        "SELECT {TRANSFER_COLUMNS} FROM transfers ORDER BY id"
    ))?;
    let mut rows = statement.query([])?;
    let mut transfers = Vec::new();
    while let Some(row) = rows.next()? {
        transfers.push(transfer_from_row(row)?);
    }
    Ok(transfers)
}

/// Deletes a transfer; [`Error::NotFound`] if there is no such transfer.
pub fn delete_transfer(connection: &Connection, id: &str) -> Result<()> {
    let deleted = connection
        .prepare_cached("DELETE FROM transfers WHERE id = ?1")?
        .execute([id])?;
    if deleted == 0 {
        return Err(Error::NotFound(format!("transfer `{id}`")));
    }
    Ok(())
}

fn transfer_from_row(row: &Row<'_>) -> Result<Transfer> {
    let id: String = column(row, 0, "a transfer")?;
    let what = format!("transfer `{id}`");
    let direction: String = column(row, 3, &what)?;
    Ok(Transfer {
        script: column(row, 1, &what)?,
        peer: column(row, 2, &what)?,
        direction: direction
            .parse()
            .map_err(|e| Error::Corrupt(format!("{what}: {e}")))?,
        phase: column(row, 4, &what)?,
        updated_at: column(row, 5, &what)?,
        snapshot: column(row, 6, &what)?,
        id,
    })
}

/// Column `index` of `row`, a part of `what`; a value of the wrong type is
/// [`Error::Corrupt`].
fn column<T: FromSql>(row: &Row<'_>, index: usize, what: &str) -> Result<T> {
    row.get(index).map_err(|e| match e {
        rusqlite::Error::FromSqlConversionFailure(..)
        | rusqlite::Error::InvalidColumnType(..)
        | rusqlite::Error::IntegralValueOutOfRange(..)
        | rusqlite::Error::Utf8Error(..) => Error::Corrupt(format!("{what}: {e}")),
        e => Error::Sqlite(e),
    })
}

/// `value` as SQLite's integer, which cannot go beyond `i64::MAX`.
fn int(value: u64, what: impl FnOnce() -> String) -> Result<i64> {
    i64::try_from(value).map_err(|_| {
        Error::Invalid(format!(
            "{} is {value}, more than the store holds ({})",
            what(),
            i64::MAX
        ))
    })
}

/// A stored integer that must not be negative.
fn uint(value: i64, what: impl FnOnce() -> String) -> Result<u64> {
    u64::try_from(value).map_err(|_| Error::Corrupt(format!("{} is {value}", what())))
}

/// A time to store: SQLite would store NaN as NULL.
fn time(value: f64, what: &str) -> Result<f64> {
    if value.is_nan() {
        return Err(Error::Invalid(format!("{what} is NaN, not a time")));
    }
    Ok(value)
}
