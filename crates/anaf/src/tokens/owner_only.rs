//! Token files readable by their user only: mode 0600 on Unix, and on Windows an access list
//! naming the user alone, given to the file as it is created.
//!
//! The Windows part is written by hand over `windows-sys`: std cannot pass a security
//! descriptor to `CreateFileW`, and no well-kept crate creates a file with one.

use std::fs::File;
use std::io;
use std::path::Path;

/// Creates `path`, which must not exist yet, for writing (and reading when `read`), so that
/// only the user this process runs as can open it.
pub(super) fn create(path: &Path, read: bool) -> io::Result<File> {
    #[cfg(windows)]
    {
        windows::create_for_process_user(path, read)
    }
    #[cfg(not(windows))]
    {
        let mut options = std::fs::OpenOptions::new();
        options.read(read).write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        options.open(path)
    }
}

/// Replaces `to` with `from` atomically.
pub(super) fn replace(from: &Path, to: &Path) -> io::Result<()> {
    #[cfg(windows)]
    {
        // A program that holds the old file open without sharing its deletion (an antivirus,
        // a backup or search indexer) makes the rename fail with "access denied" for a
        // moment: retry for about a second.
        let mut delay = std::time::Duration::from_millis(5);
        for _ in 0..10 {
            match std::fs::rename(from, to) {
                Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                    std::thread::sleep(delay);
                    delay = (delay * 2).min(std::time::Duration::from_millis(200));
                }
                done => return done,
            }
        }
    }
    std::fs::rename(from, to)
}

#[cfg(windows)]
mod windows {
    use std::fs::File;
    use std::io;
    use std::os::windows::ffi::OsStrExt;
    use std::os::windows::io::{FromRawHandle, RawHandle};
    use std::path::Path;
    use std::ptr::null_mut;

    use windows_sys::Win32::Foundation::{CloseHandle, GENERIC_READ, GENERIC_WRITE, HANDLE, INVALID_HANDLE_VALUE};
    use windows_sys::Win32::Security::{
        ACCESS_ALLOWED_ACE, ACL, ACL_REVISION, AddAccessAllowedAce, GetLengthSid, GetTokenInformation, InitializeAcl,
        InitializeSecurityDescriptor, SE_DACL_PROTECTED, SECURITY_ATTRIBUTES, SECURITY_DESCRIPTOR,
        SetSecurityDescriptorControl, SetSecurityDescriptorDacl, TOKEN_QUERY, TOKEN_USER, TokenUser,
    };
    use windows_sys::Win32::Storage::FileSystem::{
        CREATE_NEW, CreateFileW, FILE_ALL_ACCESS, FILE_ATTRIBUTE_NORMAL, FILE_SHARE_DELETE, FILE_SHARE_READ,
        FILE_SHARE_WRITE,
    };
    use windows_sys::Win32::System::Threading::{GetCurrentProcess, OpenProcessToken};

    /// winnt.h's SECURITY_DESCRIPTOR_REVISION (its windows-sys module is a large one to
    /// compile for one constant).
    const SECURITY_DESCRIPTOR_REVISION: u32 = 1;

    /// Creates the file with an access list of one entry, full access for the process's
    /// user, marked protected so that it inherits nothing from the folder.
    pub(super) fn create_for_process_user(path: &Path, read: bool) -> io::Result<File> {
        let name = win32_name(path)?;
        let user = process_user()?;
        // SAFETY: `user` holds a TOKEN_USER filled by GetTokenInformation, whose SID points
        // into the same buffer. The ACL buffer is DWORD-aligned and sized for one ACE with
        // that SID (the ACE's SidStart field is the SID's first DWORD). The descriptor, the
        // ACL and the name outlive the CreateFileW call; a valid handle is owned by the File.
        unsafe {
            let sid = (*user.as_ptr().cast::<TOKEN_USER>()).User.Sid;
            let size =
                size_of::<ACL>() + size_of::<ACCESS_ALLOWED_ACE>() - size_of::<u32>() + GetLengthSid(sid) as usize;
            let mut acl = vec![0u32; size.div_ceil(4)];
            let acl_ptr = acl.as_mut_ptr().cast::<ACL>();
            let mut descriptor: SECURITY_DESCRIPTOR = std::mem::zeroed();
            let descriptor_ptr = (&raw mut descriptor).cast();
            if InitializeAcl(acl_ptr, (acl.len() * 4) as u32, ACL_REVISION) == 0
                || AddAccessAllowedAce(acl_ptr, ACL_REVISION, FILE_ALL_ACCESS, sid) == 0
                || InitializeSecurityDescriptor(descriptor_ptr, SECURITY_DESCRIPTOR_REVISION) == 0
                || SetSecurityDescriptorDacl(descriptor_ptr, 1, acl_ptr, 0) == 0
                || SetSecurityDescriptorControl(descriptor_ptr, SE_DACL_PROTECTED, SE_DACL_PROTECTED) == 0
            {
                return Err(io::Error::last_os_error());
            }
            let attributes = SECURITY_ATTRIBUTES {
                nLength: size_of::<SECURITY_ATTRIBUTES>() as u32,
                lpSecurityDescriptor: descriptor_ptr,
                bInheritHandle: 0,
            };
            let handle = CreateFileW(
                name.as_ptr(),
                if read { GENERIC_READ } else { 0 } | GENERIC_WRITE,
                // As std opens files: others may read, write, rename or delete it meanwhile.
                FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
                &attributes,
                CREATE_NEW,
                FILE_ATTRIBUTE_NORMAL,
                null_mut(),
            );
            if handle == INVALID_HANDLE_VALUE {
                return Err(io::Error::last_os_error());
            }
            Ok(File::from_raw_handle(handle as RawHandle))
        }
    }

    /// The path as CreateFileW takes it: UTF-16 ending in a NUL, with the `\\?\` prefix
    /// when it is longer than MAX_PATH allows (std adds it the same way for its own calls).
    fn win32_name(path: &Path) -> io::Result<Vec<u16>> {
        let mut name: Vec<u16> = path.as_os_str().encode_wide().collect();
        if name.contains(&0) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a path with a NUL character",
            ));
        }
        if name.len() >= 248 && !name.starts_with(&[b'\\' as u16; 2]) {
            let full = std::path::absolute(path)?;
            let full: Vec<u16> = full.as_os_str().encode_wide().collect();
            name = match full.strip_prefix(&[b'\\' as u16; 2]) {
                // \\server\share\... becomes \\?\UNC\server\share\...
                Some(unc) => r"\\?\UNC\".encode_utf16().chain(unc.iter().copied()).collect(),
                None => r"\\?\".encode_utf16().chain(full).collect(),
            };
        }
        name.push(0);
        Ok(name)
    }

    /// The TOKEN_USER of this process, in a buffer aligned for it.
    fn process_user() -> io::Result<Vec<u64>> {
        // SAFETY: plain Win32 calls with out-pointers to locals and a buffer of `len` bytes;
        // the token handle is closed on every path after it is opened.
        unsafe {
            let mut token: HANDLE = null_mut();
            if OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &mut token) == 0 {
                return Err(io::Error::last_os_error());
            }
            let mut len = 0u32;
            // The first call only reports the size the answer needs.
            GetTokenInformation(token, TokenUser, null_mut(), 0, &mut len);
            let mut buffer = vec![0u64; (len as usize).div_ceil(8).max(1)];
            let filled = GetTokenInformation(token, TokenUser, buffer.as_mut_ptr().cast(), len, &mut len);
            let error = io::Error::last_os_error();
            CloseHandle(token);
            if filled == 0 {
                return Err(error);
            }
            Ok(buffer)
        }
    }
}
