//! Binding [`SqlValue`] parameters and reading result sets within the row and byte caps.

use odbc_api::parameter::{InputParameter, VarBinaryBox, VarCharBox};
use odbc_api::{Bit, Cursor, DataType, Nullable};

use super::{Rows, SqlValue};

/// Turns values into ODBC input parameters, in order.
pub(super) fn bind(values: &[SqlValue]) -> Vec<Box<dyn InputParameter>> {
    values
        .iter()
        .map(|v| -> Box<dyn InputParameter> {
            match v {
                SqlValue::Null => Box::new(VarCharBox::null()),
                SqlValue::Bool(b) => Box::new(Bit::from_bool(*b)),
                SqlValue::Int(i) => Box::new(*i),
                SqlValue::Float(f) => Box::new(*f),
                SqlValue::Text(s) => Box::new(VarCharBox::from_string(s.clone())),
                SqlValue::Bytes(b) => Box::new(VarBinaryBox::from_vec(b.clone())),
            }
        })
        .collect()
}

#[derive(Clone, Copy)]
enum ColumnKind {
    Int,
    Float,
    Bool,
    Bytes,
    Text,
}

fn kind_of(data_type: DataType) -> ColumnKind {
    match data_type {
        DataType::TinyInt | DataType::SmallInt | DataType::Integer | DataType::BigInt => ColumnKind::Int,
        DataType::Real | DataType::Float { .. } | DataType::Double => ColumnKind::Float,
        DataType::Bit => ColumnKind::Bool,
        DataType::Binary { .. } | DataType::Varbinary { .. } | DataType::LongVarbinary { .. } => {
            ColumnKind::Bytes
        }
        _ => ColumnKind::Text,
    }
}

/// Reads `cursor` into [`Rows`], stopping (with `truncated`) before the row that would pass
/// `max_rows` or push the value bytes past `max_bytes`.
pub(super) fn fetch(
    mut cursor: impl Cursor,
    max_rows: usize,
    max_bytes: usize,
) -> Result<Rows, odbc_api::Error> {
    let count = u16::try_from(cursor.num_result_cols()?).unwrap_or(0);
    let mut columns = Vec::with_capacity(count.into());
    let mut kinds = Vec::with_capacity(count.into());
    for i in 1..=count {
        columns.push(cursor.col_name(i)?);
        kinds.push(kind_of(cursor.col_data_type(i)?));
    }
    let mut rows = Vec::new();
    let mut bytes = 0usize;
    let mut truncated = false;
    let mut buf = Vec::new();
    while let Some(mut row) = cursor.next_row()? {
        if rows.len() >= max_rows {
            truncated = true;
            break;
        }
        let mut values = Vec::with_capacity(kinds.len());
        for (i, kind) in (1..=count).zip(kinds.iter().copied()) {
            let value = match kind {
                ColumnKind::Int => {
                    let mut v = Nullable::<i64>::null();
                    row.get_data(i, &mut v)?;
                    v.into_opt().map_or(SqlValue::Null, SqlValue::Int)
                }
                ColumnKind::Float => {
                    let mut v = Nullable::<f64>::null();
                    row.get_data(i, &mut v)?;
                    v.into_opt().map_or(SqlValue::Null, SqlValue::Float)
                }
                ColumnKind::Bool => {
                    let mut v = Nullable::<i64>::null();
                    row.get_data(i, &mut v)?;
                    v.into_opt().map_or(SqlValue::Null, |b| SqlValue::Bool(b != 0))
                }
                ColumnKind::Bytes => {
                    if row.get_binary(i, &mut buf)? {
                        SqlValue::Bytes(std::mem::take(&mut buf))
                    } else {
                        SqlValue::Null
                    }
                }
                ColumnKind::Text => {
                    if row.get_text(i, &mut buf)? {
                        SqlValue::Text(String::from_utf8_lossy(&buf).into_owned())
                    } else {
                        SqlValue::Null
                    }
                }
            };
            bytes += value_bytes(&value);
            values.push(value);
        }
        if bytes > max_bytes {
            truncated = true;
            break;
        }
        rows.push(values);
    }
    Ok(Rows { columns, rows, truncated })
}

fn value_bytes(value: &SqlValue) -> usize {
    match value {
        SqlValue::Null => 1,
        SqlValue::Bool(_) => 1,
        SqlValue::Int(_) | SqlValue::Float(_) => 8,
        SqlValue::Text(s) => s.len(),
        SqlValue::Bytes(b) => b.len(),
    }
}
