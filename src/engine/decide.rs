use crate::config::Config;
use crate::model::Millis;

use super::{Input, Output, Rejection, State};

pub(super) fn handle(
    config: &Config,
    state: &mut State,
    input: Input,
    now: Millis,
) -> Result<Output, Rejection> {
    let _ = (config, state, input, now);
    todo!("engine")
}
