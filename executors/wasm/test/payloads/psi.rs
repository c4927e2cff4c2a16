//! Private set intersection of two parties' line lists: writes the common lines (in the first
//! party's order) to "output_result" and returns how many there are.
use std::collections::BTreeSet;

extern "C" {
    fn teaclave_open_input(fid: *const u8) -> i32;
    fn teaclave_create_output(fid: *const u8) -> i32;
    fn teaclave_read_file(fd: i32, buf: *mut u8, size: i32) -> i32;
    fn teaclave_write_file(fd: i32, buf: *const u8, size: i32) -> i32;
    fn teaclave_close_file(fd: i32) -> i32;
}

fn read_all(fid: &[u8]) -> Option<Vec<u8>> {
    unsafe {
        let fd = teaclave_open_input(fid.as_ptr());
        if fd < 0 {
            return None;
        }
        let mut data = Vec::new();
        let mut chunk = [0u8; 64];
        loop {
            let n = teaclave_read_file(fd, chunk.as_mut_ptr(), chunk.len() as i32);
            if n < 0 {
                return None;
            }
            if n == 0 {
                break;
            }
            data.extend_from_slice(&chunk[..n as usize]);
        }
        teaclave_close_file(fd);
        Some(data)
    }
}

fn lines(data: &[u8]) -> Vec<&[u8]> {
    data.split(|b| *b == b'\n').filter(|l| !l.is_empty()).collect()
}

#[no_mangle]
pub extern "C" fn entrypoint(_argc: i32, _argv: *const *const u8) -> i32 {
    let (a, b) = match (read_all(b"input_data1\0"), read_all(b"input_data2\0")) {
        (Some(a), Some(b)) => (a, b),
        _ => return -1,
    };
    let theirs: BTreeSet<&[u8]> = lines(&b).into_iter().collect();
    let mut out = Vec::new();
    let mut count = 0;
    for line in lines(&a) {
        if theirs.contains(line) {
            out.extend_from_slice(line);
            out.push(b'\n');
            count += 1;
        }
    }
    unsafe {
        let fd = teaclave_create_output(b"output_result\0".as_ptr());
        if fd < 0 || teaclave_write_file(fd, out.as_ptr(), out.len() as i32) != out.len() as i32 {
            return -1;
        }
        teaclave_close_file(fd);
    }
    count
}
