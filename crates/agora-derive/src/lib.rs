//! # agora-derive
//!
//! `#[derive(Entity)]` for the entities of `agora-core`: the one place a
//! table is declared. From the struct and its attributes it generates the
//! `agora_core::schema::Entity` implementation: the table description
//! (name, columns with their types and nullability, primary key, unique
//! constraints, copy rules) and the encoder and decoder of a row. Every
//! adapter builds its statements, binders and row mappers from that.
//!
//! ```ignore
//! #[derive(Entity)]
//! #[entity(table = "product_variant", key(id), unique(name = "product_variant_store_sku_key", columns(store_id, sku)))]
//! pub struct ProductVariant {
//!     pub id: VariantId,
//!     #[column(money, name = "price")]
//!     pub price_minor: i64,
//!     // ...
//! }
//! ```
//!
//! Struct attributes (`#[entity(...)]`):
//! - `table = "name"`: the SQL table name (required);
//! - `key(a, b)`: the primary-key columns (required);
//! - `unique(name = "constraint", columns(a, b))`: a unique constraint, named
//!   as in the PostgreSQL schema (repeatable);
//! - `deletable`: rows may be deleted (cutover deletes what the source lost);
//! - `immutable`: rows never change once inserted (copy only inserts).
//!
//! Field attributes (`#[column(...)]`):
//! - `name = "col"`: the column name when it is not the field's;
//! - `names(a, b)`: the column names of a field that spans several columns;
//! - `money`: an `i64` of minor units stored as money (`NUMERIC(12,2)` on
//!   PostgreSQL).

use proc_macro::TokenStream;
use proc_macro2::TokenStream as TokenStream2;
use quote::quote;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Data, DeriveInput, Fields, Ident, LitStr, Token, parenthesized};

/// Derives `agora_core::schema::Entity`; see the crate documentation.
#[proc_macro_derive(Entity, attributes(entity, column))]
pub fn derive_entity(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as DeriveInput);
    match expand(&input) {
        Ok(ts) => ts.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

#[derive(Default)]
struct TableAttrs {
    table: Option<LitStr>,
    key: Vec<Ident>,
    unique: Vec<(LitStr, Vec<Ident>)>,
    deletable: bool,
    immutable: bool,
}

fn idents(input: ParseStream<'_>) -> syn::Result<Vec<Ident>> {
    let content;
    parenthesized!(content in input);
    Ok(Punctuated::<Ident, Token![,]>::parse_terminated(&content)?.into_iter().collect())
}

impl Parse for TableAttrs {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut out = TableAttrs::default();
        while !input.is_empty() {
            let word: Ident = input.parse()?;
            match word.to_string().as_str() {
                "table" => {
                    input.parse::<Token![=]>()?;
                    out.table = Some(input.parse()?);
                }
                "key" => out.key = idents(input)?,
                "unique" => {
                    let content;
                    parenthesized!(content in input);
                    let mut name = None;
                    let mut cols = Vec::new();
                    while !content.is_empty() {
                        let w: Ident = content.parse()?;
                        match w.to_string().as_str() {
                            "name" => {
                                content.parse::<Token![=]>()?;
                                name = Some(content.parse::<LitStr>()?);
                            }
                            "columns" => cols = idents(&content)?,
                            other => return Err(syn::Error::new(w.span(), format!("unknown unique option `{other}`"))),
                        }
                        if !content.is_empty() {
                            content.parse::<Token![,]>()?;
                        }
                    }
                    let name = name.ok_or_else(|| syn::Error::new(word.span(), "unique needs name = \"...\""))?;
                    if cols.is_empty() {
                        return Err(syn::Error::new(word.span(), "unique needs columns(...)"));
                    }
                    out.unique.push((name, cols));
                }
                "deletable" => out.deletable = true,
                "immutable" => out.immutable = true,
                other => return Err(syn::Error::new(word.span(), format!("unknown entity option `{other}`"))),
            }
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        }
        Ok(out)
    }
}

#[derive(Default)]
struct ColumnAttrs {
    name: Option<LitStr>,
    names: Vec<Ident>,
    money: bool,
}

impl Parse for ColumnAttrs {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut out = ColumnAttrs::default();
        while !input.is_empty() {
            let word: Ident = input.parse()?;
            match word.to_string().as_str() {
                "name" => {
                    input.parse::<Token![=]>()?;
                    out.name = Some(input.parse()?);
                }
                "names" => out.names = idents(input)?,
                "money" => out.money = true,
                other => return Err(syn::Error::new(word.span(), format!("unknown column option `{other}`"))),
            }
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        }
        Ok(out)
    }
}

fn expand(input: &DeriveInput) -> syn::Result<TokenStream2> {
    let name = &input.ident;
    let mut attrs = None;
    for a in &input.attrs {
        if a.path().is_ident("entity") {
            attrs = Some(a.parse_args::<TableAttrs>()?);
        }
    }
    let attrs = attrs
        .ok_or_else(|| syn::Error::new(name.span(), "#[derive(Entity)] needs #[entity(table = ..., key(...))]"))?;
    let table = attrs.table.ok_or_else(|| syn::Error::new(name.span(), "#[entity] needs table = \"...\""))?;
    if attrs.key.is_empty() {
        return Err(syn::Error::new(name.span(), "#[entity] needs key(...)"));
    }
    let Data::Struct(data) = &input.data else {
        return Err(syn::Error::new(name.span(), "#[derive(Entity)] works on structs with named fields"));
    };
    let Fields::Named(fields) = &data.fields else {
        return Err(syn::Error::new(name.span(), "#[derive(Entity)] works on structs with named fields"));
    };

    let mut describe = Vec::new();
    let mut encode = Vec::new();
    let mut decode = Vec::new();
    let mut key_fields = Vec::new();
    for f in &fields.named {
        let ident = f.ident.as_ref().expect("named field");
        let ty = &f.ty;
        let mut col = ColumnAttrs::default();
        for a in &f.attrs {
            if a.path().is_ident("column") {
                col = a.parse_args::<ColumnAttrs>()?;
            }
        }
        let names: Vec<String> = if !col.names.is_empty() {
            col.names.iter().map(ToString::to_string).collect()
        } else if let Some(n) = &col.name {
            vec![n.value()]
        } else {
            vec![ident.to_string()]
        };
        let money = col.money;
        let label = names.join("+");
        describe.push(quote! {
            b.field(&[#(#names),*], &<#ty as ::agora_core::schema::Field>::shape(), #money);
        });
        encode.push(quote! { ::agora_core::schema::Field::encode(&self.#ident, out); });
        decode.push(quote! {
            #ident: <#ty as ::agora_core::schema::Field>::decode(values).map_err(|e| e.at(#label))?,
        });
        if attrs.key.iter().any(|k| k == ident) {
            key_fields.push(ident.clone());
        }
    }
    for k in &attrs.key {
        if !key_fields.contains(k) {
            return Err(syn::Error::new(k.span(), "key(...) names a field the struct does not have"));
        }
    }
    // The key in the order `key(...)` lists it.
    let key_idents = &attrs.key;
    let key_names: Vec<String> = attrs.key.iter().map(ToString::to_string).collect();
    let uniques = attrs.unique.iter().map(|(n, cols)| {
        let cols: Vec<String> = cols.iter().map(ToString::to_string).collect();
        quote! { b.unique(#n, &[#(#cols),*]); }
    });
    let deletable = attrs.deletable;
    let immutable = attrs.immutable;
    let (impl_g, ty_g, where_g) = input.generics.split_for_impl();
    Ok(quote! {
        impl #impl_g ::agora_core::schema::Entity for #name #ty_g #where_g {
            fn table() -> &'static ::agora_core::schema::Table {
                static TABLE: ::std::sync::OnceLock<::agora_core::schema::Table> = ::std::sync::OnceLock::new();
                TABLE.get_or_init(|| {
                    let mut b = ::agora_core::schema::TableBuilder::new(#table);
                    #(#describe)*
                    b.key(&[#(#key_names),*]);
                    #(#uniques)*
                    b.flags(#deletable, #immutable);
                    b.build()
                })
            }

            fn encode<'a>(&'a self, out: &mut ::std::vec::Vec<::agora_core::schema::Value<'a>>) {
                #(#encode)*
            }

            fn decode(values: &mut ::agora_core::schema::Values) -> ::std::result::Result<Self, ::agora_core::schema::DecodeError> {
                ::std::result::Result::Ok(Self { #(#decode)* })
            }

            fn key(&self) -> ::agora_core::schema::Key {
                let mut out = ::std::vec::Vec::new();
                #( ::agora_core::schema::Field::encode(&self.#key_idents, &mut out); )*
                ::agora_core::schema::Key::from_values(out)
            }
        }
    })
}
