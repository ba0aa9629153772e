//! The store's error type.

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong opening or migrating the database.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database URL names no supported backend.
    #[error("configuration: {0}")]
    Config(String),
    /// A database error.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// A migration failed.
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Creating the SQLite file's directory failed.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

impl Error {
    /// Whether the database refused a row because its key was taken (a
    /// primary key or unique constraint).
    pub fn is_unique_violation(&self) -> bool {
        match self {
            Error::Database(sqlx::Error::Database(d)) => {
                d.is_unique_violation() || d.message().contains("UNIQUE")
            }
            _ => false,
        }
    }
}
