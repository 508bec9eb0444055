{#-
  Which object each change of a renamed name belongs to. An object is an objectType and an
  objectName until a rename (int_lp_audittrail__ordered_changes.is_rename) gives it a new name:
  the object's later changes come under the new name. A name's segment is the stretch of its
  changes between two renames out of it or into it (a name renamed away and used again later
  names another object); a rename links the segment of the old name it ends to the segment of
  the new name it starts. A chain of linked segments is one object: identified by its first
  segment (object_id) and named by its last (current_object_name). Only the changes of names
  that took part in a rename are here: every other name is one object all along, whose
  object_id is the key of its objectType and objectName.
-#}
{%- set int = dbt.type_int() -%}

with recursive changes as (

    select change_id, change_order, object_type, object_name, old_value, new_value, is_rename
    from {{ ref('int_lp_audittrail__ordered_changes') }}

),

renames as (

    select object_type, old_value as old_name, new_value as new_name, change_order
    from changes
    where is_rename

),

boundaries as (

    select object_type, old_name as object_name, change_order, 0 as is_inbound from renames
    union all
    select object_type, new_name as object_name, change_order, 1 as is_inbound from renames

),

renamed_names as (

    select distinct object_type, object_name from boundaries

),

-- a change's segment: how many renames out of or into its name came before it (a rename into
-- the name counts for the rename's own change, when the server files it under the new name)
change_segments as (

    select
        changes.change_id,
        changes.object_type,
        changes.object_name,
        cast(count(boundaries.change_order) as {{ int }}) as name_segment
    from changes
    inner join renamed_names
        on renamed_names.object_type = changes.object_type
        and renamed_names.object_name = changes.object_name
    left join boundaries
        on boundaries.object_type = changes.object_type
        and boundaries.object_name = changes.object_name
        and (
            boundaries.change_order < changes.change_order
            or (boundaries.change_order = changes.change_order and boundaries.is_inbound = 1)
        )
    group by changes.change_id, changes.object_type, changes.object_name

),

links as (

    select
        renames.object_type,
        renames.old_name as from_name,
        cast(sum(case
            when boundaries.object_name = renames.old_name
                and boundaries.change_order < renames.change_order then 1 else 0
        end) as {{ int }}) as from_segment,
        renames.new_name as to_name,
        cast(sum(case
            when boundaries.object_name = renames.new_name
                and (boundaries.change_order < renames.change_order
                    or (boundaries.change_order = renames.change_order and boundaries.is_inbound = 1))
                then 1 else 0
        end) as {{ int }}) as to_segment
    from renames
    inner join boundaries
        on boundaries.object_type = renames.object_type
        and (boundaries.object_name = renames.old_name or boundaries.object_name = renames.new_name)
    group by renames.object_type, renames.old_name, renames.new_name, renames.change_order

),

segments as (

    select object_type, object_name, name_segment from change_segments
    union
    select object_type, from_name, from_segment from links
    union
    select object_type, to_name, to_segment from links

),

chains as (

    select
        segments.object_type,
        segments.object_name as root_name,
        segments.name_segment as root_segment,
        segments.object_name,
        segments.name_segment,
        cast(0 as {{ int }}) as depth
    from segments
    left join links
        on links.object_type = segments.object_type
        and links.to_name = segments.object_name
        and links.to_segment = segments.name_segment
    where links.to_name is null

    union all

    select
        chains.object_type,
        chains.root_name,
        chains.root_segment,
        links.to_name,
        links.to_segment,
        cast(chains.depth + 1 as {{ int }})
    from chains
    inner join links
        on links.object_type = chains.object_type
        and links.from_name = chains.object_name
        and links.from_segment = chains.name_segment

),

named as (

    select
        chains.*,
        case
            when chains.root_segment = 0
                then {{ lp_audittrail_key(['chains.object_type', 'chains.root_name']) }}
            else {{ lp_audittrail_key(['chains.object_type', 'chains.root_name', 'chains.root_segment']) }}
        end as object_id,
        row_number() over (
            partition by chains.object_type, chains.root_name, chains.root_segment
            order by chains.depth desc
        ) = 1 as is_last_name
    from chains

),

current_names as (

    select object_id, object_name as current_object_name
    from named
    where is_last_name

)

select
    change_segments.change_id,
    change_segments.name_segment,
    named.object_id,
    current_names.current_object_name
from change_segments
inner join named
    on named.object_type = change_segments.object_type
    and named.object_name = change_segments.object_name
    and named.name_segment = change_segments.name_segment
inner join current_names on current_names.object_id = named.object_id
