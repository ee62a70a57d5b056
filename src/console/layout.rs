//! Where things sit on the screen: the regions, the dashboard grid's
//! geometry, and what a mouse click hits. Views draw into these rectangles
//! and `update` hit-tests against them, so neither needs the other.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::widgets::Block;
use unicode_width::UnicodeWidthStr;

use super::app::App;

pub const MIN_WIDTH: u16 = 80;
pub const MIN_HEIGHT: u16 = 24;
/// From this width the activity feed sits beside the grid.
pub const WIDE: u16 = 140;

pub struct Regions {
    pub header: Rect,
    pub main: Rect,
    pub feed: Rect,
    pub footer: Rect,
}

/// The screen's regions; shared by drawing and mouse hit-testing.
pub fn regions(area: Rect) -> Regions {
    let [header, middle, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
    ])
    .areas(area);
    let (main, feed) = if area.width >= WIDE {
        let side = (area.width / 4).max(44);
        let [m, f] =
            Layout::horizontal([Constraint::Min(1), Constraint::Length(side)]).areas(middle);
        (m, f)
    } else {
        let low = (middle.height / 4).max(6);
        let [m, f] = Layout::vertical([Constraint::Min(1), Constraint::Length(low)]).areas(middle);
        (m, f)
    };
    Regions {
        header,
        main,
        feed,
        footer,
    }
}

/// Where everything of the grid sits; drawing and clicks share it.
pub struct Geometry {
    pub inner: Rect,
    pub name_w: u16,
    /// (column index, x, width) of the columns on screen: 0 is the build
    /// column, 1.. the stages; a window around the selected one when they
    /// do not all fit.
    pub cols: Vec<(usize, u16, u16)>,
    pub row_h: u16,
    pub first_y: u16,
    pub offset: usize,
    pub visible: usize,
}

const MIN_COL: u16 = 14;

pub fn geometry(app: &App, area: Rect, services: usize, names_w: usize) -> Geometry {
    let inner = Block::bordered().inner(area);
    let rows_h = inner.height.saturating_sub(1);
    let n = services as u16;
    let row_h = if rows_h / 4 >= n.min(4) {
        4
    } else if rows_h / 3 >= n.min(3) {
        3
    } else {
        2
    };
    let visible = (rows_h / row_h).max(1) as usize;
    let offset = (app.grid.row + 1).saturating_sub(visible);
    let name_w = (names_w as u16 + 2).clamp(10, 20).min(inner.width / 4);
    let total = app.columns().len() + 1;
    let avail = inner.width.saturating_sub(name_w);
    // Below this a cell cannot say "◐ deploying 2/5"; scroll sideways instead.
    let fit = ((avail / MIN_COL) as usize).clamp(1, total);
    let first = (app.grid.col + 1).saturating_sub(fit).min(total - fit);
    let w = avail / fit as u16;
    let cols = (0..fit)
        .map(|i| {
            let x = inner.x + name_w + i as u16 * w;
            let width = if i + 1 == fit {
                avail - i as u16 * w
            } else {
                w
            };
            (first + i, x, width)
        })
        .collect();
    Geometry {
        inner,
        name_w,
        cols,
        row_h,
        first_y: inner.y + 1,
        offset,
        visible,
    }
}

/// The (row, column) of the cell at a screen position, if any.
pub fn hit_test(app: &App, screen: Rect, x: u16, y: u16) -> Option<(usize, usize)> {
    if screen.width < MIN_WIDTH || screen.height < MIN_HEIGHT {
        return None;
    }
    let area = regions(screen).main;
    let services = app.visible_services();
    let names = services.iter().map(|s| s.name.width()).max().unwrap_or(0);
    let g = geometry(app, area, services.len(), names);
    if y < g.first_y || y >= g.inner.y + g.inner.height {
        return None;
    }
    let row = g.offset + ((y - g.first_y) / g.row_h) as usize;
    if row >= services.len() || row >= g.offset + g.visible {
        return None;
    }
    let col = g.cols.iter().find(|(_, cx, w)| x >= *cx && x < cx + w)?.0;
    Some((row, col))
}
