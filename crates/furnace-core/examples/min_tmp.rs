use std::time::Instant;
fn main() {
    let root = std::env::args_os().nth(1).unwrap();
    let n = 200;
    let (mut a, mut b, mut c_) = (vec![], vec![], vec![]);
    for _ in 0..n {
        let t = Instant::now();
        let c = furnace_core::Container::start(&root).unwrap();
        a.push(t.elapsed());
        let t = Instant::now();
        c.command("/bin/true").status().unwrap();
        b.push(t.elapsed());
        let t = Instant::now();
        c.stop().unwrap();
        c_.push(t.elapsed());
    }
    for v in [&mut a, &mut b, &mut c_] {
        v.sort();
    }
    println!(
        "start {:?} true {:?} stop {:?}",
        a[n / 2],
        b[n / 2],
        c_[n / 2]
    );
}
