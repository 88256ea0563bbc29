//! Prints the SealedSecret CRD as YAML (used to generate the Helm chart's copy).

fn main() {
    print!("{}", sealant_api::crd_yaml());
}
