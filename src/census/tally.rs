//! Running totals per category (a type, free blocks, unidentified blocks) and per region for
//! pages outside pymalloc, turned into the census's sorted list at the end.

use std::collections::BTreeMap;

use super::{FREE_TYPE, NOT_PYMALLOC_TYPE, RegionPages, TypeCount, UNIDENTIFIED_TYPE};

/// What a block or page holds: [`FREE`], [`UNIDENTIFIED`], or a type from [`FIRST_TYPE`] on.
pub(crate) type Category = u32;
pub(crate) const FREE: Category = 0;
pub(crate) const UNIDENTIFIED: Category = 1;
pub(crate) const FIRST_TYPE: Category = 2;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct CategoryTotals {
    pub blocks: u64,
    pub bytes: u64,
    pub pages: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Tally {
    categories: Vec<CategoryTotals>,
    /// Pages outside any pymalloc pool, per region label index.
    not_pymalloc_pages: Vec<u64>,
    pub pages_unreadable: u64,
    pub pages_inconsistent: u64,
}

impl Tally {
    fn category(&mut self, category: Category) -> &mut CategoryTotals {
        let index = category as usize;
        if index >= self.categories.len() {
            self.categories.resize(index + 1, CategoryTotals::default());
        }
        &mut self.categories[index]
    }

    pub(crate) fn add_blocks(&mut self, category: Category, blocks: u64, block_size_bytes: u64) {
        let totals = self.category(category);
        totals.blocks += blocks;
        totals.bytes += blocks * block_size_bytes;
    }

    pub(crate) fn add_page(&mut self, category: Category) {
        self.category(category).pages += 1;
    }

    pub(crate) fn add_not_pymalloc(&mut self, region: usize, pages: u64) {
        if region >= self.not_pymalloc_pages.len() {
            self.not_pymalloc_pages.resize(region + 1, 0);
        }
        self.not_pymalloc_pages[region] += pages;
    }

    #[cfg(test)]
    pub(crate) fn totals(&self, category: Category) -> CategoryTotals {
        self.categories
            .get(category as usize)
            .copied()
            .unwrap_or_default()
    }

    /// The census's type list and region breakdown. `describe(c)` names category `c` (from
    /// [`FIRST_TYPE`]) and says whether the collector tracks it; types sharing a name (two classes `Record` in different modules) are
    /// merged. Sorted by bytes, largest first, then by name; the "<free>", "<unidentified>"
    /// and "<not pymalloc>" entries are always present.
    pub(crate) fn finish(
        &self,
        describe: impl Fn(Category) -> (String, bool),
        region_labels: &[String],
        page_size_bytes: u64,
    ) -> (Vec<TypeCount>, Vec<RegionPages>) {
        let mut by_name: BTreeMap<String, TypeCount> = BTreeMap::new();
        let mut add = |(name, gc_tracked): (String, bool), objects: u64, bytes: u64, pages: u64| {
            let entry = by_name.entry(name.clone()).or_insert(TypeCount {
                type_name: name,
                gc_tracked,
                objects: 0,
                bytes: 0,
                pages: 0,
            });
            entry.gc_tracked |= gc_tracked;
            entry.objects += objects;
            entry.bytes += bytes;
            entry.pages += pages;
        };
        add((FREE_TYPE.to_string(), false), 0, 0, 0);
        add((UNIDENTIFIED_TYPE.to_string(), false), 0, 0, 0);
        for (index, totals) in self.categories.iter().enumerate() {
            let category = index as Category;
            let name = match category {
                FREE => (FREE_TYPE.to_string(), false),
                UNIDENTIFIED => (UNIDENTIFIED_TYPE.to_string(), false),
                _ if totals.blocks == 0 && totals.pages == 0 => continue,
                _ => describe(category),
            };
            add(name, totals.blocks, totals.bytes, totals.pages);
        }
        let mut regions: BTreeMap<&str, u64> = BTreeMap::new();
        for (index, pages) in self.not_pymalloc_pages.iter().enumerate() {
            if *pages > 0 {
                *regions.entry(region_labels[index].as_str()).or_default() += pages;
            }
        }
        let not_pymalloc_pages: u64 = regions.values().sum();
        add(
            (NOT_PYMALLOC_TYPE.to_string(), false),
            0,
            not_pymalloc_pages * page_size_bytes,
            not_pymalloc_pages,
        );
        let mut types: Vec<TypeCount> = by_name.into_values().collect();
        types.sort_by(|a, b| {
            b.bytes
                .cmp(&a.bytes)
                .then_with(|| a.type_name.cmp(&b.type_name))
        });
        let mut regions: Vec<RegionPages> = regions
            .into_iter()
            .map(|(region, pages)| RegionPages {
                region: region.to_string(),
                pages,
                bytes: pages * page_size_bytes,
            })
            .collect();
        regions.sort_by(|a, b| b.pages.cmp(&a.pages).then(a.region.cmp(&b.region)));
        (types, regions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(category: Category) -> (String, bool) {
        match category {
            2 => ("int".to_string(), false),
            3 => ("Record".to_string(), true),
            4 => ("Record".to_string(), false),
            _ => (format!("type{category}"), false),
        }
    }

    #[test]
    fn finish_merges_names_sorts_by_bytes_and_keeps_the_special_entries() {
        let mut tally = Tally::default();
        tally.add_blocks(2, 100, 32);
        tally.add_page(2);
        tally.add_blocks(3, 10, 64);
        tally.add_blocks(4, 5, 64);
        tally.add_page(4);
        tally.add_blocks(FREE, 3, 32);
        tally.add_not_pymalloc(1, 2);
        tally.add_not_pymalloc(0, 1);
        tally.add_not_pymalloc(2, 4);
        let labels = ["heap".to_string(), "anon".to_string(), "heap".to_string()];
        let (types, regions) = tally.finish(names, &labels, 4096);
        let summary: Vec<(&str, u64, u64, u64)> = types
            .iter()
            .map(|t| (t.type_name.as_str(), t.objects, t.bytes, t.pages))
            .collect();
        assert_eq!(
            summary,
            vec![
                ("<not pymalloc>", 0, 7 * 4096, 7),
                ("int", 100, 3200, 1),
                ("Record", 15, 960, 1),
                ("<free>", 3, 96, 0),
                ("<unidentified>", 0, 0, 0),
            ]
        );
        assert_eq!(
            regions,
            vec![
                RegionPages {
                    region: "heap".into(),
                    pages: 5,
                    bytes: 5 * 4096
                },
                RegionPages {
                    region: "anon".into(),
                    pages: 2,
                    bytes: 2 * 4096
                },
            ]
        );
    }

    #[test]
    fn an_empty_tally_still_lists_the_special_entries() {
        let (types, regions) = Tally::default().finish(names, &[], 4096);
        let names: Vec<&str> = types.iter().map(|t| t.type_name.as_str()).collect();
        assert_eq!(names, vec!["<free>", "<not pymalloc>", "<unidentified>"]);
        assert!(types.iter().all(|t| t.bytes == 0 && t.pages == 0));
        assert!(regions.is_empty());
    }
}
