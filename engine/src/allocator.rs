//! Process-wide allocator settings for the programs that run the vision
//! models.

/// Keeps freed memory in the process instead of handing it back to the
/// kernel. Call once at start-up, before other threads exist; the app and
/// the vision benchmarks do.
///
/// glibc serves large allocations with fresh `mmap`s and trims the top of
/// its heaps on free, so every photo's tens of megabytes of activations
/// came back from the kernel as untouched pages, faulted in one by one by
/// the convolutions writing them (`likeness detect` over the 438 shared
/// photos: 6.6 s of system time in 39 s of CPU). With the `mmap` threshold
/// at its maximum, 32 MiB (above any tensor here), and trimming only past
/// 1 GiB, the same run spent 1.2 s in the kernel and took 20.5 s instead
/// of 23.3. Peak memory is unchanged: it is what the largest photo needs.
///
/// Elsewhere (other C libraries, other systems) this does nothing.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        const MMAP_THRESHOLD_MAX: libc::c_int = 32 << 20;
        const TRIM_THRESHOLD: libc::c_int = 1 << 30;
        // SAFETY: `mallopt` only sets allocator parameters, and both values
        // are inside glibc's documented ranges, so it cannot refuse them.
        #[allow(unsafe_code)]
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD_MAX);
            libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
        }
    }
}
