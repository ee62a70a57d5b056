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
    /// Two lines under the grid: the selected cell's whole story.
    pub status: Rect,
    pub feed: Rect,
    pub footer: Rect,
}

/// Lines of the status line under the grid.
pub const STATUS_H: u16 = 2;
/// The feed keeps at least this many rows when the grid is tall.
const FEED_MIN: u16 = 5;

/// The screen's regions for `services` rows of the grid; shared by drawing
/// and mouse hit-testing. The grid takes the rows it needs (four per
/// service, its header and borders, the status line), the activity feed the
/// rest, below it at full width so failure lines are not cut. Only when the
/// grid needs more than the screen has and the screen is wide does the feed
/// go beside it.
pub fn regions(area: Rect, services: usize) -> Regions {
    let [header, middle, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
    ])
    .areas(area);
    let want = 3 + 4 * (services.max(1) as u16) + STATUS_H;
    let room = middle.height.saturating_sub(FEED_MIN);
    let (grid, feed) = if area.width >= WIDE && want > room {
        let side = (area.width / 4).max(44);
        let [m, f] =
            Layout::horizontal([Constraint::Min(1), Constraint::Length(side)]).areas(middle);
        (m, f)
    } else {
        let h = want.min(room).max(middle.height.min(3 + 2 + STATUS_H));
        let [m, f] = Layout::vertical([Constraint::Length(h), Constraint::Min(0)]).areas(middle);
        (m, f)
    };
    let [main, status] =
        Layout::vertical([Constraint::Min(1), Constraint::Length(STATUS_H)]).areas(grid);
    Regions {
        header,
        main,
        status,
        feed,
        footer,
    }
}

/// The dashboard's regions for what the app shows.
pub fn dashboard(app: &App, area: Rect) -> Regions {
    regions(area, app.visible_services().len())
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
    let area = dashboard(app, screen).main;
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

/// Where the selected cell of the dashboard is on screen, if it is shown.
pub fn selected_cell(app: &App, screen: Rect) -> Option<Rect> {
    if screen.width < MIN_WIDTH || screen.height < MIN_HEIGHT {
        return None;
    }
    let area = dashboard(app, screen).main;
    let services = app.visible_services();
    let names = services.iter().map(|s| s.name.width()).max().unwrap_or(0);
    let g = geometry(app, area, services.len(), names);
    let shown = app.grid.row.checked_sub(g.offset)?;
    if shown >= g.visible {
        return None;
    }
    let (_, x, w) = *g.cols.iter().find(|(c, ..)| *c == app.grid.col)?;
    let y = g.first_y + shown as u16 * g.row_h;
    Some(Rect::new(x, y, w, g.row_h))
}
