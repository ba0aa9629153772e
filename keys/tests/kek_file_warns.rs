//! The development KEK file logs a warning at every load. Alone in its own
//! test binary: tracing caches per-callsite interest process-wide, and a
//! concurrent test without a subscriber could hide the event.

use std::io::Write;
use std::sync::{Arc, Mutex};

use zkr_keys::FileKek;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| std::io::Error::other("poisoned"))?
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn every_load_of_the_file_kek_warns() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kek");
    let out = Captured::default();
    let writer = out.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        FileKek::create(&path).unwrap();
        FileKek::open(&path).unwrap();
        FileKek::open_or_create(&path).unwrap();
    });
    let log = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
    assert_eq!(log.matches("WARN").count(), 3, "{log}");
    assert!(log.contains("for development only"));
    // The warning names the file and the KEK id, never key bytes.
    assert!(log.contains("kek_id=file:"));
}
