// Only built where rustc has the wasm32-wasip1 target.
fn main() {
    let sum: u32 = (1..=10).sum();
    println!("hello from Rust, 1 + ... + 10 = {sum}");
}
