//! A SQLite VFS that gathers a transaction's write-ahead log frames into one
//! write.
//!
//! SQLite writes each log frame as two `pwrite`s, its 24-byte header and then
//! the page; a raise and its mail's delivery commit some seventy frames, a
//! system call pair each, all of them inside the file's write lock, which is
//! what bounds raising at 16 connections (docs/PERFORMANCE.md, "Twelfth
//! pass"). This VFS wraps the platform's default one and changes one thing:
//! contiguous writes to a `-wal` file are kept in memory and written in one
//! call when the transaction's commit frame is complete, or before anything
//! that could look at the file (a read, its size, a truncate, a sync, a file
//! control, a close), or past [`MAX_GATHERED`] bytes.
//!
//! Why nothing can tell: SQLite publishes new frames to other connections
//! (the shared-memory index's header) only after the frame-writing calls for
//! the commit returned, and by then the commit frame has been written
//! through. Frames spilled mid-transaction are only ever read back by their
//! own connection, whose reads write the gathered ones through first. A crash
//! with frames gathered loses a transaction that had not committed, as a
//! crash before its `pwrite`s would. It is the host's alone: the app's
//! SQLite semantics are unchanged, on this host as on Spin.

use std::ffi::{c_char, c_int, c_void};
use std::ptr;
use std::sync::Once;
use std::sync::atomic::{AtomicPtr, Ordering};

use rusqlite::ffi;

/// The VFS's name (it is also made the default).
const NAME: &[u8] = b"edgedesk-wal-gather\0";

/// Most bytes gathered before they are written anyway (a large
/// transaction's spilled pages).
const MAX_GATHERED: usize = 4 << 20;

/// Most bytes one write hands the wrapped VFS: the Unix one writes at most
/// 128 KiB a call (it masks the length to 17 bits).
const WRITE_CHUNK: usize = 64 << 10;

/// The wrapped VFS, set once by [`install`].
static REAL: AtomicPtr<ffi::sqlite3_vfs> = AtomicPtr::new(ptr::null_mut());

#[cfg(test)]
thread_local! {
    /// Writes that reached a `-wal` file from this thread (tests run in
    /// parallel, each on its own thread).
    static WAL_WRITES: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// One open file: SQLite's handle, then the wrapped VFS's file, which
/// SQLite allocated right after it (`szOsFile` covers both).
#[repr(C)]
struct File {
    base: ffi::sqlite3_file,
    real: *mut ffi::sqlite3_file,
    wal: bool,
    /// Offset of `gathered`'s first byte in the file.
    start: i64,
    gathered: Vec<u8>,
    /// The last write was a commit frame's header: its page completes it.
    commit_header: bool,
}

/// Makes the gathering VFS SQLite's default, once, before the process opens
/// its first connection through it. Without a default VFS to wrap (never on
/// Linux), or with `EDGEDESK_NO_WAL_GATHER` set (to compare, or to rule it
/// out), connections keep SQLite's own.
#[allow(unsafe_code)]
pub fn install() {
    static ONCE: Once = Once::new();
    if std::env::var_os("EDGEDESK_NO_WAL_GATHER").is_some() {
        return;
    }
    // SAFETY: the default VFS lives for the process; the new one is leaked
    // so it does too. It is registered only once `REAL` is set.
    ONCE.call_once(|| unsafe {
        let real = ffi::sqlite3_vfs_find(ptr::null());
        if real.is_null() {
            return;
        }
        REAL.store(real, Ordering::Release);
        let mut vfs: ffi::sqlite3_vfs = ptr::read(real);
        vfs.zName = NAME.as_ptr() as *const c_char;
        vfs.szOsFile = (std::mem::size_of::<File>() as c_int) + (*real).szOsFile;
        vfs.xOpen = Some(open);
        vfs.pNext = ptr::null_mut();
        let vfs = Box::into_raw(Box::new(vfs));
        if ffi::sqlite3_vfs_register(vfs, 1) != ffi::SQLITE_OK {
            drop(Box::from_raw(vfs));
        }
    });
}

/// How many writes reached `-wal` files from this thread so far.
#[cfg(test)]
fn wal_writes() -> u64 {
    WAL_WRITES.with(|w| w.get())
}

static METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    iVersion: 3,
    xClose: Some(close),
    xRead: Some(read),
    xWrite: Some(write),
    xTruncate: Some(truncate),
    xSync: Some(sync),
    xFileSize: Some(file_size),
    xLock: Some(lock),
    xUnlock: Some(unlock),
    xCheckReservedLock: Some(check_reserved_lock),
    xFileControl: Some(file_control),
    xSectorSize: Some(sector_size),
    xDeviceCharacteristics: Some(device_characteristics),
    xShmMap: Some(shm_map),
    xShmLock: Some(shm_lock),
    xShmBarrier: Some(shm_barrier),
    xShmUnmap: Some(shm_unmap),
    xFetch: Some(fetch),
    xUnfetch: Some(unfetch),
};

#[allow(unsafe_code)]
mod calls {
    //! The VFS's entry points. SAFETY (for all of them): SQLite calls them
    //! with a file opened by [`open`], one thread at a time per file, and
    //! the wrapped file's methods are valid until its `xClose`.

    use super::*;

    fn file<'a>(f: *mut ffi::sqlite3_file) -> &'a mut File {
        unsafe { &mut *(f as *mut File) }
    }

    fn real_methods(f: &File) -> &'static ffi::sqlite3_io_methods {
        unsafe { &*(*f.real).pMethods }
    }

    /// Writes what is gathered, in as few calls as the wrapped VFS takes
    /// ([`WRITE_CHUNK`] bytes each).
    fn flush(f: &mut File) -> c_int {
        if f.gathered.is_empty() {
            return ffi::SQLITE_OK;
        }
        let Some(w) = real_methods(f).xWrite else {
            return ffi::SQLITE_IOERR_WRITE;
        };
        let mut rc = ffi::SQLITE_OK;
        let mut at = f.start;
        for chunk in f.gathered.chunks(WRITE_CHUNK) {
            #[cfg(test)]
            WAL_WRITES.with(|w| w.set(w.get() + 1));
            rc = unsafe {
                w(
                    f.real,
                    chunk.as_ptr() as *const c_void,
                    chunk.len() as c_int,
                    at,
                )
            };
            if rc != ffi::SQLITE_OK {
                break;
            }
            at += chunk.len() as i64;
        }
        f.gathered.clear();
        f.commit_header = false;
        rc
    }

    pub unsafe extern "C" fn open(
        vfs: *mut ffi::sqlite3_vfs,
        name: *const c_char,
        out: *mut ffi::sqlite3_file,
        flags: c_int,
        out_flags: *mut c_int,
    ) -> c_int {
        let _ = vfs;
        let real_vfs = REAL.load(Ordering::Acquire);
        let real =
            unsafe { (out as *mut u8).add(std::mem::size_of::<File>()) } as *mut ffi::sqlite3_file;
        unsafe { (*out).pMethods = ptr::null() };
        let Some(real_open) = (unsafe { (*real_vfs).xOpen }) else {
            return ffi::SQLITE_CANTOPEN;
        };
        let rc = unsafe { real_open(real_vfs, name, real, flags, out_flags) };
        if rc != ffi::SQLITE_OK || unsafe { (*real).pMethods.is_null() } {
            return rc;
        }
        // Without power-safe overwrites SQLite pads a commit to the sector
        // boundary with copies of its commit frame, written after the sync
        // point and published with it: such a log is written through.
        let powersafe = match unsafe { (*(*real).pMethods).xDeviceCharacteristics } {
            Some(d) => (unsafe { d(real) } & ffi::SQLITE_IOCAP_POWERSAFE_OVERWRITE) != 0,
            None => false,
        };
        unsafe {
            ptr::write(
                out as *mut File,
                File {
                    base: ffi::sqlite3_file { pMethods: &METHODS },
                    real,
                    wal: flags & ffi::SQLITE_OPEN_WAL != 0 && powersafe,
                    start: 0,
                    gathered: Vec::new(),
                    commit_header: false,
                },
            )
        };
        rc
    }

    pub unsafe extern "C" fn close(f: *mut ffi::sqlite3_file) -> c_int {
        let me = file(f);
        let flushed = flush(me);
        let rc = match real_methods(me).xClose {
            Some(c) => unsafe { c(me.real) },
            None => ffi::SQLITE_OK,
        };
        unsafe { ptr::drop_in_place(&mut me.gathered) };
        if flushed != ffi::SQLITE_OK {
            flushed
        } else {
            rc
        }
    }

    pub unsafe extern "C" fn read(
        f: *mut ffi::sqlite3_file,
        buf: *mut c_void,
        amt: c_int,
        off: i64,
    ) -> c_int {
        let me = file(f);
        let rc = flush(me);
        if rc != ffi::SQLITE_OK {
            return rc;
        }
        match real_methods(me).xRead {
            Some(r) => unsafe { r(me.real, buf, amt, off) },
            None => ffi::SQLITE_IOERR_READ,
        }
    }

    pub unsafe extern "C" fn write(
        f: *mut ffi::sqlite3_file,
        data: *const c_void,
        amt: c_int,
        off: i64,
    ) -> c_int {
        let me = file(f);
        if !me.wal || amt <= 0 {
            return match real_methods(me).xWrite {
                Some(w) => unsafe { w(me.real, data, amt, off) },
                None => ffi::SQLITE_IOERR_WRITE,
            };
        }
        let bytes = unsafe { std::slice::from_raw_parts(data as *const u8, amt as usize) };
        if !me.gathered.is_empty() && off != me.start + me.gathered.len() as i64 {
            let rc = flush(me);
            if rc != ffi::SQLITE_OK {
                return rc;
            }
        }
        if me.gathered.is_empty() {
            me.start = off;
        }
        me.gathered.extend_from_slice(bytes);
        let completes_commit = me.commit_header;
        // A frame header is 24 bytes; its second word is the database's
        // size in pages for a commit frame, zero for any other.
        me.commit_header = bytes.len() == 24 && bytes[4..8] != [0, 0, 0, 0];
        if completes_commit || me.gathered.len() >= MAX_GATHERED {
            return flush(me);
        }
        ffi::SQLITE_OK
    }

    pub unsafe extern "C" fn truncate(f: *mut ffi::sqlite3_file, size: i64) -> c_int {
        let me = file(f);
        let rc = flush(me);
        if rc != ffi::SQLITE_OK {
            return rc;
        }
        match real_methods(me).xTruncate {
            Some(t) => unsafe { t(me.real, size) },
            None => ffi::SQLITE_IOERR_TRUNCATE,
        }
    }

    pub unsafe extern "C" fn sync(f: *mut ffi::sqlite3_file, flags: c_int) -> c_int {
        let me = file(f);
        let rc = flush(me);
        if rc != ffi::SQLITE_OK {
            return rc;
        }
        match real_methods(me).xSync {
            Some(s) => unsafe { s(me.real, flags) },
            None => ffi::SQLITE_IOERR_FSYNC,
        }
    }

    pub unsafe extern "C" fn file_size(f: *mut ffi::sqlite3_file, size: *mut i64) -> c_int {
        let me = file(f);
        let rc = flush(me);
        if rc != ffi::SQLITE_OK {
            return rc;
        }
        match real_methods(me).xFileSize {
            Some(s) => unsafe { s(me.real, size) },
            None => ffi::SQLITE_IOERR_FSTAT,
        }
    }

    pub unsafe extern "C" fn lock(f: *mut ffi::sqlite3_file, level: c_int) -> c_int {
        let me = file(f);
        match real_methods(me).xLock {
            Some(l) => unsafe { l(me.real, level) },
            None => ffi::SQLITE_OK,
        }
    }

    pub unsafe extern "C" fn unlock(f: *mut ffi::sqlite3_file, level: c_int) -> c_int {
        let me = file(f);
        match real_methods(me).xUnlock {
            Some(u) => unsafe { u(me.real, level) },
            None => ffi::SQLITE_OK,
        }
    }

    pub unsafe extern "C" fn check_reserved_lock(
        f: *mut ffi::sqlite3_file,
        out: *mut c_int,
    ) -> c_int {
        let me = file(f);
        match real_methods(me).xCheckReservedLock {
            Some(c) => unsafe { c(me.real, out) },
            None => ffi::SQLITE_OK,
        }
    }

    pub unsafe extern "C" fn file_control(
        f: *mut ffi::sqlite3_file,
        op: c_int,
        arg: *mut c_void,
    ) -> c_int {
        let me = file(f);
        let rc = flush(me);
        if rc != ffi::SQLITE_OK {
            return rc;
        }
        match real_methods(me).xFileControl {
            Some(c) => unsafe { c(me.real, op, arg) },
            None => ffi::SQLITE_NOTFOUND,
        }
    }

    pub unsafe extern "C" fn sector_size(f: *mut ffi::sqlite3_file) -> c_int {
        let me = file(f);
        match real_methods(me).xSectorSize {
            Some(s) => unsafe { s(me.real) },
            None => 4096,
        }
    }

    pub unsafe extern "C" fn device_characteristics(f: *mut ffi::sqlite3_file) -> c_int {
        let me = file(f);
        match real_methods(me).xDeviceCharacteristics {
            Some(d) => unsafe { d(me.real) },
            None => 0,
        }
    }

    pub unsafe extern "C" fn shm_map(
        f: *mut ffi::sqlite3_file,
        page: c_int,
        size: c_int,
        extend: c_int,
        out: *mut *mut c_void,
    ) -> c_int {
        let me = file(f);
        match real_methods(me).xShmMap {
            Some(m) => unsafe { m(me.real, page, size, extend, out) },
            None => ffi::SQLITE_IOERR_SHMMAP,
        }
    }

    pub unsafe extern "C" fn shm_lock(
        f: *mut ffi::sqlite3_file,
        offset: c_int,
        n: c_int,
        flags: c_int,
    ) -> c_int {
        let me = file(f);
        match real_methods(me).xShmLock {
            Some(l) => unsafe { l(me.real, offset, n, flags) },
            None => ffi::SQLITE_IOERR_SHMLOCK,
        }
    }

    pub unsafe extern "C" fn shm_barrier(f: *mut ffi::sqlite3_file) {
        let me = file(f);
        if let Some(b) = real_methods(me).xShmBarrier {
            unsafe { b(me.real) }
        }
    }

    pub unsafe extern "C" fn shm_unmap(f: *mut ffi::sqlite3_file, delete: c_int) -> c_int {
        let me = file(f);
        match real_methods(me).xShmUnmap {
            Some(u) => unsafe { u(me.real, delete) },
            None => ffi::SQLITE_OK,
        }
    }

    pub unsafe extern "C" fn fetch(
        f: *mut ffi::sqlite3_file,
        off: i64,
        amt: c_int,
        out: *mut *mut c_void,
    ) -> c_int {
        let me = file(f);
        let rc = flush(me);
        if rc != ffi::SQLITE_OK {
            return rc;
        }
        let version = real_methods(me).iVersion;
        match real_methods(me).xFetch {
            Some(x) if version >= 3 => unsafe { x(me.real, off, amt, out) },
            _ => {
                unsafe { *out = ptr::null_mut() };
                ffi::SQLITE_OK
            }
        }
    }

    pub unsafe extern "C" fn unfetch(f: *mut ffi::sqlite3_file, off: i64, p: *mut c_void) -> c_int {
        let me = file(f);
        let version = real_methods(me).iVersion;
        match real_methods(me).xUnfetch {
            Some(x) if version >= 3 => unsafe { x(me.real, off, p) },
            _ => ffi::SQLITE_OK,
        }
    }
}

use calls::*;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_transactions_log_frames_reach_the_file_in_one_write_and_read_back_everywhere() {
        install();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let a = rusqlite::Connection::open(&path).unwrap();
        a.pragma_update(None, "journal_mode", "WAL").unwrap();
        a.pragma_update(None, "synchronous", "NORMAL").unwrap();
        a.execute_batch(
            "CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT); CREATE INDEX t_v ON t (v);",
        )
        .unwrap();
        let b = rusqlite::Connection::open(&path).unwrap();
        let before = wal_writes();
        // One transaction writing many pages (rows and index).
        let tx = a.unchecked_transaction().unwrap();
        for k in 0..400 {
            tx.execute(
                "INSERT INTO t (k, v) VALUES (?1, ?2)",
                rusqlite::params![k, "x".repeat(300)],
            )
            .unwrap();
        }
        tx.commit().unwrap();
        let frames: i64 = a
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get(1))
            .unwrap();
        // Many frames (a 24-byte header and a page each, two writes each
        // unwrapped), written in 64 KiB writes.
        let writes = wal_writes() - before;
        let bytes = frames as u64 * (24 + 4096);
        assert!(frames > 30, "{frames} frames");
        assert!(
            writes <= bytes.div_ceil(WRITE_CHUNK as u64) + 1,
            "{writes} writes for {frames} frames"
        );
        // Another connection reads what was committed.
        let n: i64 = b
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 400);
        // A large transaction spills pages mid-way; its own reads see them.
        a.pragma_update(None, "cache_size", 10).unwrap();
        let tx = a.unchecked_transaction().unwrap();
        for k in 400..3000 {
            tx.execute(
                "INSERT INTO t (k, v) VALUES (?1, ?2)",
                rusqlite::params![k, format!("{k:0>300}")],
            )
            .unwrap();
        }
        let inside: i64 = tx
            .query_row("SELECT count(*) FROM t WHERE v LIKE '%7'", [], |r| r.get(0))
            .unwrap();
        assert_eq!(inside, 260);
        // Not committed: the other connection does not see it, and after a
        // rollback nobody does.
        let n: i64 = b
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 400);
        tx.rollback().unwrap();
        let n: i64 = a
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 400);
        // And the file is whole.
        let ok: String = b
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(ok, "ok");
        drop((a, b));
        let c = rusqlite::Connection::open(&path).unwrap();
        let n: i64 = c
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 400);
    }
}
