//! The `ent` binary: wires the log, the domain, the projections and the GraphQL server.

fn main() {
    println!("ent: see README.md");
}
