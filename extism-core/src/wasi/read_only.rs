//! Read-only preopens (`ro:` in `allowed_paths`): wrappers that pass reads through and refuse every change.
//!
//! `wasi-common` has no read-only mode, so a read-only preopen is its directory wrapped in [`ReadOnlyDir`]: opening
//! for writing, creating, truncating, making directories, symlinks and hard links, removing, renaming and setting
//! times all fail with `ENOTSUP` ("not supported", as upstream Extism answers), while opening for reading, listing,
//! `stat` and `readlink` pass through. What it opens is wrapped again: subdirectories in [`ReadOnlyDir`], files in
//! [`ReadOnlyFile`], which refuses writes, resizing and setting times, so that no descriptor obtained through a
//! read-only preopen can change anything. A rename or hard link *into* a read-only directory from a writable one
//! fails too: the writable directory only accepts a destination of its own concrete type, which the wrapper is not.

use std::any::Any;
use std::io::{IoSlice, IoSliceMut, SeekFrom};
use std::path::PathBuf;

use wasi_common::dir::{OpenResult, ReaddirCursor, ReaddirEntity, WasiDir};
use wasi_common::file::{Advice, FdFlags, FileType, Filestat, OFlags, WasiFile};
use wasi_common::{Error, ErrorExt, SystemTimeSpec};

/// The answer to every change attempted through a read-only preopen.
fn refused<T>() -> Result<T, Error> {
    Err(Error::not_supported())
}

/// A directory that can be read but not changed.
pub(crate) struct ReadOnlyDir(Box<dyn WasiDir>);

impl ReadOnlyDir {
    /// Wrap `dir`.
    pub(crate) fn new(dir: Box<dyn WasiDir>) -> ReadOnlyDir {
        ReadOnlyDir(dir)
    }
}

#[wiggle::async_trait]
impl WasiDir for ReadOnlyDir {
    fn as_any(&self) -> &dyn Any {
        self
    }

    async fn open_file(
        &self,
        symlink_follow: bool,
        path: &str,
        oflags: OFlags,
        read: bool,
        write: bool,
        fdflags: FdFlags,
    ) -> Result<OpenResult, Error> {
        if write || oflags.intersects(OFlags::CREATE | OFlags::TRUNCATE) {
            return refused();
        }
        Ok(
            match self
                .0
                .open_file(symlink_follow, path, oflags, read, false, fdflags)
                .await?
            {
                OpenResult::File(file) => OpenResult::File(Box::new(ReadOnlyFile(file))),
                OpenResult::Dir(dir) => OpenResult::Dir(Box::new(ReadOnlyDir(dir))),
            },
        )
    }

    async fn create_dir(&self, _path: &str) -> Result<(), Error> {
        refused()
    }

    async fn readdir(
        &self,
        cursor: ReaddirCursor,
    ) -> Result<Box<dyn Iterator<Item = Result<ReaddirEntity, Error>> + Send>, Error> {
        self.0.readdir(cursor).await
    }

    async fn symlink(&self, _old_path: &str, _new_path: &str) -> Result<(), Error> {
        refused()
    }

    async fn remove_dir(&self, _path: &str) -> Result<(), Error> {
        refused()
    }

    async fn unlink_file(&self, _path: &str) -> Result<(), Error> {
        refused()
    }

    async fn read_link(&self, path: &str) -> Result<PathBuf, Error> {
        self.0.read_link(path).await
    }

    async fn get_filestat(&self) -> Result<Filestat, Error> {
        self.0.get_filestat().await
    }

    async fn get_path_filestat(&self, path: &str, follow_symlinks: bool) -> Result<Filestat, Error> {
        self.0.get_path_filestat(path, follow_symlinks).await
    }

    async fn rename(&self, _path: &str, _dest_dir: &dyn WasiDir, _dest_path: &str) -> Result<(), Error> {
        refused()
    }

    async fn hard_link(&self, _path: &str, _target_dir: &dyn WasiDir, _target_path: &str) -> Result<(), Error> {
        refused()
    }

    async fn set_times(
        &self,
        _path: &str,
        _atime: Option<SystemTimeSpec>,
        _mtime: Option<SystemTimeSpec>,
        _follow_symlinks: bool,
    ) -> Result<(), Error> {
        refused()
    }
}

/// A file opened through a read-only preopen: readable, seekable, pollable, never changed.
pub(crate) struct ReadOnlyFile(Box<dyn WasiFile>);

#[wiggle::async_trait]
impl WasiFile for ReadOnlyFile {
    fn as_any(&self) -> &dyn Any {
        self
    }

    async fn get_filetype(&self) -> Result<FileType, Error> {
        self.0.get_filetype().await
    }

    // `poll_oneoff` waits on the descriptor this returns.
    #[cfg(unix)]
    fn pollable(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        self.0.pollable()
    }

    fn isatty(&self) -> bool {
        self.0.isatty()
    }

    async fn datasync(&self) -> Result<(), Error> {
        self.0.datasync().await
    }

    async fn sync(&self) -> Result<(), Error> {
        self.0.sync().await
    }

    async fn get_fdflags(&self) -> Result<FdFlags, Error> {
        self.0.get_fdflags().await
    }

    async fn set_fdflags(&mut self, flags: FdFlags) -> Result<(), Error> {
        // Append mode only matters for writes, which are refused anyway.
        self.0.set_fdflags(flags).await
    }

    async fn get_filestat(&self) -> Result<Filestat, Error> {
        self.0.get_filestat().await
    }

    async fn set_filestat_size(&self, _size: u64) -> Result<(), Error> {
        refused()
    }

    async fn advise(&self, offset: u64, len: u64, advice: Advice) -> Result<(), Error> {
        self.0.advise(offset, len, advice).await
    }

    async fn set_times(&self, _atime: Option<SystemTimeSpec>, _mtime: Option<SystemTimeSpec>) -> Result<(), Error> {
        refused()
    }

    async fn read_vectored<'a>(&self, bufs: &mut [IoSliceMut<'a>]) -> Result<u64, Error> {
        self.0.read_vectored(bufs).await
    }

    async fn read_vectored_at<'a>(&self, bufs: &mut [IoSliceMut<'a>], offset: u64) -> Result<u64, Error> {
        self.0.read_vectored_at(bufs, offset).await
    }

    async fn write_vectored<'a>(&self, _bufs: &[IoSlice<'a>]) -> Result<u64, Error> {
        refused()
    }

    async fn write_vectored_at<'a>(&self, _bufs: &[IoSlice<'a>], _offset: u64) -> Result<u64, Error> {
        refused()
    }

    async fn seek(&self, pos: SeekFrom) -> Result<u64, Error> {
        self.0.seek(pos).await
    }

    async fn peek(&self, buf: &mut [u8]) -> Result<u64, Error> {
        self.0.peek(buf).await
    }

    fn num_ready_bytes(&self) -> Result<u64, Error> {
        self.0.num_ready_bytes()
    }

    async fn readable(&self) -> Result<(), Error> {
        self.0.readable().await
    }

    async fn writable(&self) -> Result<(), Error> {
        refused()
    }
}
