//! Allocates until the allocator fails: the executor must report its memory limit.
#[no_mangle]
pub extern "C" fn entrypoint(_argc: i32, _argv: *const *const u8) -> i32 {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        hoard.push(vec![1u8; 1 << 20]);
        if hoard.len() == usize::MAX {
            return hoard.len() as i32;
        }
    }
}
